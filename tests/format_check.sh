#!/bin/sh
# Fails when any C or C++ source differs from what .clang-format prescribes, listing the files.
# Usage: format_check.sh SOURCE_ROOT CLANG_FORMAT
set -eu
root=$1
cf=$2
cd "$root"
bad=0
for f in $(git ls-files '*.c' '*.h' '*.cc' 2>/dev/null || find dataplane drivers control bench tests -name '*.[ch]' -o -name '*.cc'); do
	if ! "$cf" --dry-run --Werror --style=file "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: $cf -i --style=file $f)"
		bad=1
	fi
done
exit $bad
