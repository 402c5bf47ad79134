// node sub.mjs URL BROADCAST TRACK N: subscribes with the old client and prints the first N
// frames as "FRAME group frame payload", then exits 0 (1 on any error).
import { connect, Moq } from "./common.mjs";

const [url, broadcast, track, count] = process.argv.slice(2);
try {
	const conn = await connect(url);
	const sub = conn.consume(Moq.Path.from(broadcast)).subscribe(track, 0);
	for (let n = 0; n < Number(count); n++) {
		const f = await sub.readFrameSequence();
		if (f === undefined) throw new Error(`the track ended after ${n} frames`);
		console.log(`FRAME ${f.group} ${f.frame} ${new TextDecoder().decode(f.data)}`);
	}
	conn.close();
	process.exit(0);
} catch (e) {
	console.error(`sub.mjs: ${e?.stack ?? e}`);
	process.exit(1);
}
