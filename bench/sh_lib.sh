# SPDX-License-Identifier: Apache-2.0
#
# Shell helpers every bench/*_compare.sh script sources: free loopback ports and stopping the
# processes a script started.

# free_port udp|tcp: a loopback port nothing is bound to now.
free_port() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

# stop_pids PID...: SIGTERM to each, up to 10 s for each to exit, then SIGKILL. Only the
# processes the script started, by their pids; empty arguments are skipped.
stop_pids() {
	for p in "$@"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	for p in "$@"; do
		[ -n "$p" ] || continue
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}
