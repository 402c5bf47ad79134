// node pub.mjs URL BROADCAST TRACK N PER_GROUP: publishes N text frames "msgI" with the old
// client, PER_GROUP to a group, one every 50 ms from the first subscription on, then keeps the
// broadcast up until stdin closes (the test's cue that the subscriber has everything).
import { connect, Moq } from "./common.mjs";

const [url, broadcast, trackName, count, perGroup] = process.argv.slice(2);
try {
	const conn = await connect(url);
	const bc = new Moq.Broadcast();
	conn.publish(Moq.Path.from(broadcast), bc);
	console.log("published");
	const req = await bc.requested();
	if (req === undefined) throw new Error("the broadcast closed before a subscription");
	const track = req.track;
	if (track.name !== trackName) throw new Error(`asked for track ${track.name}`);
	let group;
	for (let i = 0; i < Number(count); i++) {
		if (i % Number(perGroup) === 0) {
			group?.close();
			group = track.appendGroup();
		}
		group.writeString(`msg${i}`);
		await new Promise((r) => setTimeout(r, 50));
	}
	group?.close();
	console.log("sent");
	process.stdin.resume();
	await new Promise((r) => process.stdin.on("end", r));
	track.close();
	conn.close();
	process.exit(0);
} catch (e) {
	console.error(`pub.mjs: ${e?.stack ?? e}`);
	process.exit(1);
}
