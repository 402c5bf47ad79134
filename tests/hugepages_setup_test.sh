#!/usr/bin/env bash
# Tests hugepages-setup.sh without changing the machine it runs on: CI runs it as root on a VM
# with no DPDK NIC and no hugepages, so it exercises only --help, --dry-run, --status and the
# refusals, and checks at the end that page counts, mounts and the state file are untouched.
# Prints 'ok - <name>' per check and stops with a message at the first failure.
set -euo pipefail

script=$(cd "$(dirname "$0")/.." && pwd)/hugepages-setup.sh
state_file=/run/shardline-hugepages.state
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out='' rc=0
ok() { echo "ok - $1"; }
fail() {
  echo "not ok - $1: $2" >&2
  if [[ -n $out ]]; then printf '%s\n' "$out" | sed 's/^/#   /' >&2; fi
  exit 1
}
# Runs the script with the given arguments, keeping its combined output in out and its exit
# status in rc, so that every check can look at both.
run() { rc=0; out=$(bash "$script" "$@" 2>&1) || rc=$?; }
expect_rc() { [[ $rc -eq $2 ]] || fail "$1" "exit status $rc, expected $2"; }
expect_out() { grep -qE -- "$3" <<<"$out" || fail "$1" "output does not match /$3/ ($2)"; }

# Everything a real run would change: page counts, hugetlbfs mounts and the state file.
snapshot() {
  grep -H . /sys/devices/system/node/node*/hugepages/*/nr_hugepages \
    /sys/kernel/mm/hugepages/*/nr_hugepages 2>/dev/null || true
  grep hugetlbfs /proc/mounts || true
  if [[ -e $state_file ]]; then echo "state:"; cat "$state_file"; fi
}
# The 2 MiB page directories the script works on, found the way it finds them: one per NUMA
# node, or the system-wide one when the kernel has no node directories.
page_dirs=()
for d in /sys/devices/system/node/node[0-9]*/hugepages/hugepages-2048kB; do
  if [[ -d $d ]]; then page_dirs+=("$d"); fi
done
if ((${#page_dirs[@]} == 0)); then page_dirs=(/sys/kernel/mm/hugepages/hugepages-2048kB); fi
label() { if [[ $1 == /sys/devices/system/node/* ]]; then basename "$(dirname "$(dirname "$1")")"; else echo system; fi; }
# Checks that the plan in out sets every node to N pages: a write where the count differs,
# an 'already' line where it is N already.
expect_pages_plan() {
  local name=$1 n=$2 d
  for d in "${page_dirs[@]}"; do
    if (($(<"$d/nr_hugepages") == n)); then
      expect_out "$name" "node already at $n" "^already: $(label "$d") has $n 2M pages"
    else
      expect_out "$name" "planned write of $n" "^would: echo $n > $d/nr_hugepages\$"
    fi
  done
}

before=$(snapshot)
mnt=$tmp/hugepages # not a mount point, so the plan must contain a mount

[[ -f $script && -x $script ]] || fail "script is executable" "$script missing or not executable"
ok "script is executable"

run --help
expect_rc "--help exits 0" 0
for opt in --dry-run --undo --bind --pages-2m --pages-1g --mount --driver --status; do
  expect_out "--help lists $opt" "every option is documented" "(^|[^-])$opt"
done
expect_out "--help gives defaults" "default page count" "default: 1024"
ok "--help exits 0 and lists every option"

run -h
expect_rc "-h exits 0" 0
expect_out "-h prints usage" "usage text" "^Usage:"
ok "-h prints usage"

run --dry-run --mount "$mnt"
expect_rc "--dry-run exits 0" 0
expect_pages_plan "--dry-run plans nr_hugepages writes" 1024
expect_out "--dry-run plans the mount" "planned mount" "^would: mount -t hugetlbfs -o pagesize=2M nodev $mnt\$"
expect_out "--dry-run prints state" "state section" "^hugetlbfs mounts:"
! grep -qvE '^(would|already|state|note)|^ |^hugepages per node|^hugetlbfs mounts|^network devices' <<<"$out" ||
  fail "--dry-run only plans" "a line that is neither a plan nor state: $(grep -vE '^(would|already|state|note)|^ |^hugepages per node|^hugetlbfs mounts|^network devices' <<<"$out" | head -1)"
first=$out
ok "--dry-run exits 0 and plans nr_hugepages writes and the mount"

[[ ! -e $mnt ]] || fail "--dry-run creates nothing" "$mnt was created"
[[ $(snapshot) == "$before" ]] || fail "--dry-run changes nothing" "page counts, mounts or state file changed"
ok "--dry-run leaves nr_hugepages, mounts and the state file unchanged"

run --dry-run --mount "$mnt"
[[ $out == "$first" ]] || fail "--dry-run is repeatable" "second dry run printed something else"
ok "--dry-run twice gives the same output"

run --dry-run --pages-2m 64 --mount "$mnt"
expect_rc "--dry-run --pages-2m 64 exits 0" 0
expect_pages_plan "--dry-run --pages-2m 64 plans 64 pages" 64
ok "--dry-run --pages-2m 64 plans 64 pages per node"

run --dry-run --pages-2m=32 --mount="$mnt/"
expect_rc "--opt=value form exits 0" 0
expect_pages_plan "--pages-2m=32 plans 32 pages" 32
expect_out "--mount=DIR/ drops the slash" "planned mount" "nodev $mnt\$"
ok "--opt=value form is accepted"

run --dry-run --undo
expect_rc "--dry-run --undo exits 0" 0
expect_pages_plan "--dry-run --undo plans page counts of 0" 0
if [[ ! -e $state_file ]]; then
  expect_out "--dry-run --undo without state file" "says so" "no state file $state_file"
  expect_out "--dry-run --undo plans unmounts" "unmount or already" "(would: umount|already: no hugetlbfs mounted at) /dev/hugepages\$"
fi
[[ $(snapshot) == "$before" ]] || fail "--dry-run --undo changes nothing" "page counts, mounts or state file changed"
ok "--dry-run --undo exits 0, plans the reverts and changes nothing"

run --status
expect_rc "--status exits 0" 0
expect_out "--status prints pages" "per-node table" "^  (node[0-9]+|system) +2M: [0-9]+/[0-9]+"
expect_out "--status prints devices" "devices section" "^network devices:"
if grep -q '^would:' <<<"$out"; then fail "--status plans nothing" "printed would: lines"; fi
ok "--status prints the state and plans nothing"

run --pages-2m abc
expect_rc "--pages-2m abc exits 2" 2
expect_out "--pages-2m abc names the value" "names abc" "'abc'.*--pages-2m"
expect_out "--pages-2m abc hints at usage" "usage hint" "--help"
ok "--pages-2m abc exits 2 naming the bad value"

run --pages-1g -1
expect_rc "--pages-1g -1 exits 2" 2
expect_out "--pages-1g -1 names the value" "names -1" "'-1'"
ok "--pages-1g -1 exits 2 naming the bad value"

run --dry-run --pages-2m
expect_rc "missing value exits 2" 2
expect_out "missing value names the option" "names --pages-2m" "--pages-2m needs a value"
ok "--pages-2m without a value exits 2"

run --frobnicate
expect_rc "--frobnicate exits 2" 2
expect_out "--frobnicate is named" "names it" "unknown option '--frobnicate'"
ok "unknown option --frobnicate exits 2 naming it"

run --dry-run --mount relative/dir
expect_rc "relative --mount exits 2" 2
ok "relative --mount exits 2"

run --status --undo
expect_rc "--status --undo exits 2" 2
ok "--status with --undo exits 2"

run --dry-run --bind 0000:ff:1f.7
expect_rc "nonexistent PCI device exits 1" 1
expect_out "nonexistent PCI device" "message" "no PCI device 0000:ff:1f.7"
ok "--bind of a nonexistent PCI device exits 1 with 'no PCI device'"

run --dry-run --bind notapci
expect_rc "--bind notapci exits 2" 2
expect_out "--bind notapci is named" "names it" "'notapci'"
ok "--bind notapci exits 2 (bad PCI address format)"

run --dry-run --bind ff:1f.7
expect_rc "short PCI address is accepted" 1
expect_out "short PCI address is widened" "full address" "no PCI device 0000:ff:1f.7"
ok "--bind BB:DD.F is accepted and widened to 0000:BB:DD.F"

# A PCI device that is not a NIC (a host bridge, a disk controller) must never be bound.
other=''
for dev in /sys/bus/pci/devices/*; do
  if [[ $(<"$dev/class") != 0x02* ]]; then other=${dev##*/}; break; fi
done
if [[ -n $other ]]; then
  run --dry-run --bind "$other"
  expect_rc "--bind of a non-NIC exits 1" 1
  expect_out "--bind of a non-NIC" "refusal" "$other is not a network controller"
  ok "--bind of non-NIC $other is refused"
else
  ok "--bind of a non-NIC is refused # SKIP no non-network PCI device"
fi

# A NIC whose kernel interface is up must be refused, naming the interface; the VM's own
# network interface (often virtio, with the interface below DEV/virtio*/net) is one.
busy_if='' busy_pci=''
for link in /sys/class/net/*; do
  path=$(readlink -f "$link")
  if [[ $path =~ /([[:xdigit:]]{4}:[[:xdigit:]]{2}:[[:xdigit:]]{2}\.[0-7])/([^/]+/)?net/ ]] &&
    [[ $(<"$link/operstate") == up ]]; then
    busy_if=${link##*/} busy_pci=${BASH_REMATCH[1]}
    break
  fi
done
if [[ -n $busy_if ]]; then
  run --dry-run --bind "$busy_pci"
  expect_rc "--bind of an interface in use exits 1" 1
  expect_out "--bind of an interface in use" "names interface and address" "interface $busy_if \(PCI $busy_pci\) is in use"
  ok "--bind of $busy_pci ($busy_if, up) is refused"
else
  ok "--bind of a NIC in use is refused # SKIP no PCI NIC is up"
fi

# The non-root checks run as nobody from a copy that nobody can read, in a directory nobody
# can enter, since the checkout may be somewhere private.
if [[ $(id -u) -eq 0 ]]; then
  chmod 755 "$tmp"
  install -m 755 "$script" "$tmp/hugepages-setup.sh"
  if command -v setpriv >/dev/null; then
    as_nobody() { (cd / && setpriv --reuid=65534 --regid=65534 --clear-groups bash "$tmp/hugepages-setup.sh" "$@"); }
  else
    as_nobody() { (cd / && runuser -u nobody -- bash "$tmp/hugepages-setup.sh" "$@"); }
  fi
else
  as_nobody() { bash "$script" "$@"; }
fi
rc=0; out=$(as_nobody --pages-2m 8 2>&1) || rc=$?
expect_rc "non-root run exits 1" 1
expect_out "non-root run" "mentions root" "root"
ok "non-root run is refused with exit 1, mentioning root"

rc=0; out=$(as_nobody --dry-run 2>&1) || rc=$?
expect_rc "non-root --dry-run exits 0" 0
expect_out "non-root --dry-run" "note about root" "^note: .*needs root"
expect_out "non-root --dry-run plans" "plan" "^(would|already):"
ok "non-root --dry-run exits 0 with a note that the real run needs root"

rc=0; out=$(as_nobody --help 2>&1) || rc=$?
expect_rc "non-root --help exits 0" 0
ok "non-root --help exits 0"

out=''
[[ $(snapshot) == "$before" ]] || fail "machine unchanged" "page counts, mounts or state file changed during the test"
ok "machine unchanged: nr_hugepages, hugetlbfs mounts and state file as before"
