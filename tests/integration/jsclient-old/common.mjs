// The old reference client, @moq/lite 0.2.2 (with @moq/qmux 0.0.6), on Node 20.
//
// Left to itself it offers only the bare "qmux-00" and "webtransport" subprotocols and settles
// the version in-band, asking for moq-lite-02, which shardline does not serve. Given
// protocols: ["moq-lite-04"] it also offers "qmux-00.moq-lite-04" and "webtransport.moq-lite-04",
// and the relay picks the qmux-00 pair. OLD_FRAMING=legacy makes the WebSocket offer only the
// "webtransport." pairs, so the relay must answer "webtransport.moq-lite-04": the client's
// legacy framing (single-byte frame types, no flow control) with moq-lite-04.
import WebSocket from "ws";

const framing = process.env.OLD_FRAMING ?? "qmux-00";
class Offers extends WebSocket {
	constructor(url, protocols) {
		if (framing === "legacy") protocols = protocols.filter((p) => p.startsWith("webtransport."));
		super(url, protocols);
		sockets.push(this);
	}
}
const sockets = [];
globalThis.WebSocket = Offers;
if (!Promise.withResolvers) {
	Promise.withResolvers = function () {
		let resolve, reject;
		const promise = new Promise((a, b) => {
			resolve = a;
			reject = b;
		});
		return { promise, resolve, reject };
	};
}

export const Moq = await import("@moq/lite");
const Session = (await import("@moq/qmux")).default;

// Connects over the WebSocket with moq-lite-04 and prints the subprotocol the relay chose and
// the version the session runs, for the test to check.
export async function connect(url) {
	const session = new Session(new URL(url), { protocols: ["moq-lite-04"] });
	await Promise.race([
		session.ready,
		new Promise((_, reject) => setTimeout(() => reject(new Error("WebSocket not ready after 10 s")), 10000)),
	]);
	const conn = await Moq.Connection.connect(new URL(url), { transport: session });
	// The WebSocket's subprotocol names the framing too (the session only keeps the version).
	console.log(`NEGOTIATED ${sockets.at(-1)?.protocol} ${conn.version}`);
	return conn;
}
