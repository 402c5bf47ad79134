// The test pages' script, bundled with the reference client (@moq/net) by esbuild. The page's
// query says what to do; the outcome lands in window.results for the test to read.
//   sub: relay, broadcast, track, n -- subscribe and keep n frames of `shardctl pub`'s
//        synthetic ones (bytes 0-7 "SLFRAME1", 8-15 the wall-clock send time in ns, 16-23 the
//        frame number), with their publish-to-deliver latency.
//   pub: relay, broadcast, track, n, per -- publish n text frames "msgI", per to a group.
// ws=1 lets the WebSocket race too; by default it is off, so a WebTransport failure fails.
import * as Moq from "@moq/net";

const q = new URLSearchParams(location.search);
const r = (window.results = { done: false, error: null, transport: null, version: null, frames: [] });

function stamp(payload) {
	if (payload.length < 24 || new TextDecoder().decode(payload.subarray(0, 8)) !== "SLFRAME1") return null;
	const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
	return { sentNs: v.getBigUint64(8), number: Number(v.getBigUint64(16)) };
}

async function connect() {
	const conn = await Moq.Connection.connect(new URL(q.get("relay")), {
		websocket: { enabled: q.get("ws") === "1" },
	});
	r.transport = conn.transport;
	r.version = conn.version;
	return conn;
}

async function sub() {
	const conn = await connect();
	const track = conn.consume(Moq.Path.from(q.get("broadcast"))).subscribe(q.get("track"));
	const n = Number(q.get("n"));
	while (r.frames.length < n) {
		const f = await track.readFrameSequence();
		if (!f) throw new Error(`the track ended after ${r.frames.length} frames`);
		const nowNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
		const s = stamp(f.payload);
		r.frames.push({
			group: f.group,
			frame: f.frame,
			number: s ? s.number : null,
			latencyUs: s ? Number(nowNs - s.sentNs) / 1000 : null,
		});
	}
	conn.close();
}

async function pub() {
	const conn = await connect();
	const bc = new Moq.Broadcast.Producer();
	conn.publish(Moq.Path.from(q.get("broadcast")), bc);
	r.published = true;
	const req = await bc.requested();
	if (req === undefined) throw new Error("the broadcast closed before a subscription");
	if (req.name !== q.get("track")) throw new Error(`asked for track ${req.name}`);
	const track = req.accept();
	const n = Number(q.get("n")), per = Number(q.get("per"));
	let group;
	for (let i = 0; i < n; i++) {
		if (i % per === 0) {
			group?.close();
			group = track.appendGroup();
		}
		group.writeString(`msg${i}`);
		r.sent = i + 1;
		await new Promise((x) => setTimeout(x, 50));
	}
	group?.close();
	// Stay up until the test has what it needs (it closes the page).
}

(q.get("mode") === "pub" ? pub() : sub()).then(
	() => (r.done = true),
	(e) => (r.error = String(e?.stack ?? e)),
);
