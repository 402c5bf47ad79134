// The watch page: subscribes to one track of a shardline relay with the reference client
// (@moq/net) and draws, live, the frames per second it receives and their publish-to-deliver
// latency. web/build.sh bundles this file into watch.html (docs/operator.md, "The watch page").
//
// The page's query (or the form) names the relay and the track:
//   ?relay=http://127.0.0.1:4443/&broadcast=demo&track=clock
// With an http:// relay URL the client fetches /certificate.sha256 from the relay's TCP listener
// on the same port and dials WebTransport with that hash (no browser flags needed); the
// WebSocket fallback is tried too unless ws=0.
//
// Latency needs a stamped frame: `shardctl pub`'s synthetic frames carry their wall-clock send
// time (bytes 0-7 "SLFRAME1", 8-15 ns). Other publishers' frames count toward fps only.
import * as Moq from "@moq/net";

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
for (const k of ["relay", "broadcast", "track"]) if (q.get(k)) $(k).value = q.get(k);

// What the page shows, also for a test to read.
const state = (window.watch = {
	status: "idle",
	transport: null,
	version: null,
	frames: 0,
	stamped: 0,
	fps: 0,
	latencyMs: null, // the median of the last second
	error: null,
});

const history = []; // {t, fps, latencyMs} per second, the last 60
let second = { start: performance.now(), frames: 0, lat: [] };

function stampNs(payload) {
	if (payload.length < 16 || new TextDecoder().decode(payload.subarray(0, 8)) !== "SLFRAME1") return null;
	return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(8);
}

function median(v) {
	if (v.length === 0) return null;
	const s = [...v].sort((a, b) => a - b);
	return s[Math.floor(s.length / 2)];
}

function tick() {
	const now = performance.now();
	if (now - second.start >= 1000) {
		state.fps = (second.frames * 1000) / (now - second.start);
		state.latencyMs = median(second.lat);
		history.push({ fps: state.fps, latencyMs: state.latencyMs });
		if (history.length > 60) history.shift();
		second = { start: now, frames: 0, lat: [] };
	}
	$("status").textContent = state.error ? `error: ${state.error}` : state.status;
	$("transport").textContent = state.transport ? `${state.transport}, ${state.version}` : "-";
	$("fps").textContent = state.fps.toFixed(1);
	$("latency").textContent = state.latencyMs === null ? "-" : state.latencyMs.toFixed(1);
	$("frames").textContent = String(state.frames);
	draw();
	requestAnimationFrame(tick);
}

// Two lines over the last minute: frames per second (blue, left scale) and latency in ms
// (orange, right scale).
function draw() {
	const c = $("chart");
	const g = c.getContext("2d");
	// Room on the right for the latency scale's label.
	const w = c.width, h = c.height, pad = 30, right = 60;
	g.fillStyle = "#fff";
	g.fillRect(0, 0, w, h);
	g.strokeStyle = "#ccc";
	g.strokeRect(pad, 10, w - pad - right, h - pad - 10);
	const maxFps = Math.max(1, ...history.map((p) => p.fps));
	const maxLat = Math.max(1, ...history.map((p) => p.latencyMs ?? 0));
	const x = (i) => pad + ((w - pad - right) * i) / 59;
	const line = (color, val, max) => {
		g.strokeStyle = color;
		g.lineWidth = 2;
		g.beginPath();
		let started = false;
		history.forEach((p, i) => {
			const v = val(p);
			if (v === null) return;
			const y = h - pad - ((h - pad - 10) * v) / max;
			if (started) g.lineTo(x(i), y);
			else g.moveTo(x(i), y), (started = true);
		});
		g.stroke();
	};
	line("#1f77b4", (p) => p.fps, maxFps);
	line("#ff7f0e", (p) => p.latencyMs, maxLat);
	g.fillStyle = "#1f77b4";
	g.fillText(`${maxFps.toFixed(0)} fps`, 2, 14);
	g.fillStyle = "#ff7f0e";
	g.fillText(`${maxLat.toFixed(1)} ms`, w - right + 4, 14);
}

async function watch() {
	state.status = "connecting";
	state.error = null;
	try {
		const conn = await Moq.Connection.connect(new URL($("relay").value), {
			websocket: { enabled: q.get("ws") !== "0" },
		});
		state.transport = conn.transport;
		state.version = conn.version;
		state.status = "subscribed";
		const track = conn.consume(Moq.Path.from($("broadcast").value)).subscribe($("track").value);
		for (;;) {
			const f = await track.readFrameSequence();
			if (!f) {
				state.status = "the track ended";
				return;
			}
			state.frames++;
			second.frames++;
			const sent = stampNs(f.payload);
			if (sent !== null) {
				const nowNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
				second.lat.push(Number(nowNs - sent) / 1e6);
				state.stamped++;
			}
		}
	} catch (e) {
		state.error = String(e?.message ?? e);
	}
}

$("go").addEventListener("click", watch);
requestAnimationFrame(tick);
if (q.get("relay")) watch();
