# Sourced by the durable integration tests: run shardlined (2 workers, an io lcore, loopback)
# on $work/data and talk to its admin socket. The caller sets D (shardlined), CTL (shardctl),
# work, port and admin, and defines fail MESSAGE; start sets pid.
# shellcheck shell=bash

ctl() { "$CTL" --admin "$admin" "$@"; }

start() {
	"$D" --listen "127.0.0.1:$port" --workers 2 --admin "$admin" --poll-idle-us 200 \
		--data-dir "$work/data" >>"$work/daemon.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$admin" ] && ctl status >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || fail "shardlined exited at start"
		sleep 0.1
	done
	fail "shardlined did not start"
}
