// What the reference client needs on Node 20: a WebSocket (Node 22 has one built in) and
// Promise.withResolvers (Node 22 too). Both are polyfilled before @moq/net loads.
import WebSocket from "ws";

globalThis.WebSocket = WebSocket;
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

export const Moq = await import("@moq/net");

// Connects over the WebSocket at once (Node has no WebTransport, so there is no race to wait
// for) and checks the moq-lite version the relay chose (its preference: the newest).
export async function connect(url, want = "moq-lite-05") {
	const conn = await Moq.Connection.connect(new URL(url), {
		websocket: { delay: 0 },
		signal: AbortSignal.timeout(10000),
	});
	if (conn.version !== want) throw new Error(`negotiated ${conn.version}, want ${want}`);
	return conn;
}
