# SPDX-License-Identifier: Apache-2.0
#
# What bench/ws_compare.sh and bench/wt_compare.sh share, sourced by them once they have set
# prog (their name, for messages), daemon and bench (the binaries) and workers: die, a work
# folder removed at exit with every process the script started, free_port, and
# start_daemon TLS / stop_daemon for one shardlined with a UDP and a TCP listener.

. "$(dirname "${BASH_SOURCE[0]}")/sh_lib.sh"

die() {
	echo "$prog: $*" >&2
	exit 2
}
if [ ! -x "$daemon" ] || [ ! -x "$bench" ]; then
	die "build first: no $daemon or $bench"
fi

work=$(mktemp -d "/tmp/sl-${prog%.sh}-XXXXXX")
sl_pid='' bench_pid=''
stop_daemon() {
	stop_pids "$bench_pid" "$sl_pid"
	sl_pid='' bench_pid=''
}
cleanup() {
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# start_daemon TLS: shardlined with a UDP listener and a TCP one (TLS on or off); sets
# udp_port, tcp_port, sl_pid. It keeps no data (--io-cores 0): this is live fan-out only.
start_daemon() {
	udp_port=$(free_port udp) tcp_port=$(free_port tcp)
	rm -f "$work/admin.sock"
	"$daemon" --listen "127.0.0.1:$udp_port" --listen-tcp "127.0.0.1:$tcp_port" \
		--tcp-tls="$1" --workers "$workers" --io-cores 0 --admin "$work/admin.sock" \
		>"$work/shardlined-$1.log" 2>&1 &
	sl_pid=$!
	for _ in $(seq 100); do
		[ -S "$work/admin.sock" ] && break
		sleep 0.1
	done
	[ -S "$work/admin.sock" ] || { cat "$work/shardlined-$1.log" >&2; die "shardlined did not start"; }
	echo "shardlined (pid $sl_pid, $workers workers) on udp 127.0.0.1:$udp_port and tcp" \
		"127.0.0.1:$tcp_port (tcp_tls $1)" >&2
}
