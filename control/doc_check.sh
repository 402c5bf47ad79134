#!/bin/sh
# Fails when the settings table in docs/operator.md differs from `shardctl config help
# --markdown`, which is generated from the same table as --help and the config file parser.
# Usage: doc_check.sh SHARDCTL OPERATOR_MD
set -eu
ctl=$1
doc=$2
want=$(mktemp)
have=$(mktemp)
trap 'rm -f "$want" "$have"' EXIT
"$ctl" config help --markdown >"$want"
sed -n '/<!-- settings:begin -->/,/<!-- settings:end -->/p' "$doc" | sed '1d;$d' >"$have"
if ! diff -u "$have" "$want"; then
	echo "docs/operator.md's settings table is stale: regenerate it with"
	echo "  shardctl config help --markdown"
	exit 1
fi
