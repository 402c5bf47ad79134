// node drive.mjs URL [TIMEOUT_S] [SCREENSHOT]: opens URL in headless Chromium (Debian's, at
// CHROMIUM or /usr/bin/chromium, through playwright-core), waits until the page's
// window.results (the test pages) says done or error, or window.watch (the watch page) has
// drawn a few seconds of stamped frames, then prints that object as JSON on the last line
// (with the browser's console before it) and exits 0; 1 when the page never got there. With
// SCREENSHOT, a PNG of the page is saved there first.
import { chromium } from "playwright-core";

const [url, timeoutS = "30", shot] = process.argv.slice(2);
const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
	// Root in a container has no user namespaces for Chromium's sandbox.
	args: ["--no-sandbox"],
});
let result = null, ok = false;
try {
	const page = await browser.newPage();
	page.on("console", (m) => console.log(`console ${m.type()}: ${m.text()}`));
	page.on("pageerror", (e) => console.log(`page error: ${e}`));
	await page.goto(url);
	const deadline = Date.now() + Number(timeoutS) * 1000;
	while (Date.now() < deadline) {
		result = await page.evaluate(() => window.results ?? window.watch ?? null);
		if (result && (result.done || result.error)) break;
		if (result && result.stamped !== undefined && result.stamped >= 90 && result.latencyMs !== null) break;
		await new Promise((r) => setTimeout(r, 200));
	}
	ok = !!result && !result.error && (result.done || result.stamped >= 90);
	if (shot) {
		// What the watch page drew: the share of the chart's pixels that are not white.
		if (result && result.stamped !== undefined) {
			result.inked = await page.evaluate(() => {
				const c = document.getElementById("chart");
				const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
				let n = 0;
				for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
				return n / (c.width * c.height);
			});
		}
		await page.screenshot({ path: shot, fullPage: true });
	}
} finally {
	await browser.close();
}
console.log(JSON.stringify(result));
process.exit(ok ? 0 : 1);
