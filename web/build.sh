#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds the watch page: bundles web/watch.js with the reference client (@moq/net, pinned in
# web/package.json) and writes OUT/watch.html with the bundle inlined, one self-contained file
# that works from a web server or opened as a file (a file:// page cannot load module scripts).
# npm installs the pinned packages into OUT once; later runs need no network (an OUT that
# already has @moq/net and esbuild is used as it is). See docs/operator.md, "The watch page".
#
# Usage: web/build.sh [OUT]   (default build/web); prints the page's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/web}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ ! -x "$out/node_modules/.bin/esbuild" ] || [ ! -d "$out/node_modules/@moq/net" ]; then
	command -v npm >/dev/null || {
		echo "web/build.sh: npm is not installed (./run.sh deps installs nodejs)" >&2
		exit 1
	}
	cp "$here/package.json" "$out/package.json"
	(cd "$out" && npm install --no-audit --no-fund --prefer-offline >/dev/null)
fi
cp "$here/watch.js" "$out/watch.src.js"
(cd "$out" && ./node_modules/.bin/esbuild watch.src.js --bundle --format=iife \
	--log-level=warning --outfile=watch.bundle.js)
# Inline it; "</script" inside the bundle would end the element early, so it is escaped.
python3 - "$here/watch.html" "$out/watch.bundle.js" "$out/watch.html" <<'PY'
import sys
html, js, out = (open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3])
tag = '<script type="module" src="watch.bundle.js"></script>'
if tag not in html:
    sys.exit("web/build.sh: watch.html has no %s to replace" % tag)
open(out, "w").write(html.replace(tag, "<script>\n" + js.replace("</script", "<\\/script") + "</script>"))
PY
echo "$out/watch.html"
