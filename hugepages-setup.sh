#!/usr/bin/env bash
# hugepages-setup.sh: prepare a bare-metal host for shardlined in DPDK mode.
#
# DPDK takes its packet buffers from hugepages and drives NICs from user space, so before
# shardlined can run on real hardware the host needs hugepages reserved on every NUMA node
# (each worker allocates from the node its cores and NIC sit on), hugetlbfs mounted, and the
# NICs handed from their kernel driver to vfio-pci. This script does that, shows what it would
# do (--dry-run), reports where things stand (--status) and puts things back (--undo).
# Exit codes: 0 done, 1 refused or failed, 2 bad command line.
set -euo pipefail

PROG=${0##*/}
# The state file lives in /run because what it describes does not survive a reboot either:
# page reservations, mounts and driver bindings are all reset when the host restarts.
STATE_FILE=/run/shardline-hugepages.state
# Debian's dpdk package installs the tool here; DPDK_DEVBIND lets a source build point elsewhere.
DEVBIND=${DPDK_DEVBIND:-/usr/bin/dpdk-devbind.py}
NODE_SYSFS=/sys/devices/system/node
MM_SYSFS=/sys/kernel/mm/hugepages
PCI_SYSFS=/sys/bus/pci/devices

pages_2m=1024
pages_1g=0
mount_dir=/dev/hugepages
driver=vfio-pci
mode=setup
dry_run=0
binds=()
incomplete=0

usage() {
  cat <<EOF
Usage: $PROG [options]

Reserve 2 MiB (and optionally 1 GiB) hugepages on every NUMA node, mount hugetlbfs and bind
NICs to a DPDK driver, so that shardlined can run in DPDK mode. Running it again changes
nothing that is already in place. Needs root, except for --help, --dry-run and --status.

Options:
  --pages-2m N      2 MiB pages to reserve per NUMA node (default: 1024)
  --pages-1g N      1 GiB pages to reserve per NUMA node, mounted at DIR-1G (default: 0,
                    which leaves 1 GiB pages alone)
  --mount DIR       where to mount hugetlbfs (default: /dev/hugepages)
  --bind PCI_ADDR   bind this NIC (DDDD:BB:DD.F or BB:DD.F) to the DPDK driver; repeatable
                    (default: none)
  --driver NAME     driver for --bind (default: vfio-pci)
  --dry-run         print every action as 'would: ...' and change nothing (default: off)
  --undo            set page counts to 0, unmount what setup mounted and give the --bind NICs
                    (all recorded NICs if none is named) back to the kernel driver recorded
                    in $STATE_FILE (default: off)
  --status          print pages, hugetlbfs mounts and bound devices only (default: off)
  -h, --help        print this help and exit

Environment:
  DPDK_DEVBIND      path of dpdk-devbind.py (default: /usr/bin/dpdk-devbind.py, from
                    'apt-get install dpdk')
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
warn() { echo "$PROG: warning: $*" >&2; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help' for the options." >&2; exit 2; }
check_count() {
  [[ $2 =~ ^[0-9]{1,9}$ ]] || usage_error "invalid value '$2' for $1: expected a page count (a non-negative integer)"
}

while (($# > 0)); do
  opt=$1 val=
  case $opt in
    --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
    --pages-2m | --pages-1g | --mount | --bind | --driver)
      (($# >= 2)) || usage_error "option $opt needs a value"
      val=$2; shift ;;
  esac
  shift
  case $opt in
    --pages-2m) check_count "$opt" "$val"; pages_2m=$((10#$val)) ;;
    --pages-1g) check_count "$opt" "$val"; pages_1g=$((10#$val)) ;;
    --mount)
      # /proc/mounts escapes white space, so such a path could never be found there again.
      while [[ $val == ?*/ ]]; do val=${val%/}; done
      [[ $val =~ ^/[^[:space:]]+$ ]] || usage_error "invalid value '$val' for --mount: expected an absolute path other than /, without spaces"
      mount_dir=$val ;;
    --bind)
      [[ $val =~ ^([[:xdigit:]]{4}:)?[[:xdigit:]]{2}:[[:xdigit:]]{2}\.[0-7]$ ]] || usage_error "invalid PCI address '$val' for --bind: expected DDDD:BB:DD.F or BB:DD.F"
      # sysfs names devices by their full lower-case address, so compare in that form.
      [[ -n ${BASH_REMATCH[1]} ]] || val=0000:$val
      binds+=("${val,,}") ;;
    --driver)
      [[ $val =~ ^[A-Za-z0-9_-]+$ ]] || usage_error "invalid value '$val' for --driver: expected a driver name such as vfio-pci"
      driver=$val ;;
    --dry-run) dry_run=1 ;;
    --undo | --status)
      [[ $mode == setup || $mode == "${opt#--}" ]] || usage_error "--undo and --status cannot be combined"
      mode=${opt#--} ;;
    -h | --help) usage; exit 0 ;;
    -*) usage_error "unknown option '$opt'" ;;
    *) usage_error "unexpected argument '$opt'" ;;
  esac
done

# Reading sysfs needs no privileges, so --dry-run and --status work for anyone; every real
# change (sysfs writes, mounts, driver binding) needs root, and failing half-way is worse
# than refusing up front.
if [[ $(id -u) -ne 0 ]]; then
  if ((dry_run)); then
    echo "note: dry run as uid $(id -u); the real run needs root"
  elif [[ $mode != status ]]; then
    die "must be run as root: it writes to /sys, mounts hugetlbfs and rebinds drivers (try sudo, or --dry-run to see the plan)"
  fi
fi

# Every change goes through act, put or record, so that --dry-run shows exactly the actions
# a real run takes, and a real run logs each of them before doing it.
act() {
  local shown
  shown=$(printf ' %q' "$@")
  if ((dry_run)); then echo "would:$shown"; return 0; fi
  echo "doing:$shown"
  "$@"
}
put() { # FILE VALUE: write a sysfs knob.
  if ((dry_run)); then echo "would: echo $2 > $1"; return 0; fi
  echo "doing: echo $2 > $1"
  echo "$2" >"$1"
}
record() { # LINE: remember something setup did, so that --undo can revert exactly that.
  if [[ -f $STATE_FILE ]] && grep -qxF -- "$1" "$STATE_FILE"; then return 0; fi
  if ((dry_run)); then echo "would: echo '$1' >> $STATE_FILE"; return 0; fi
  echo "$1" >>"$STATE_FILE"
}
forget() { # LINE: drop a reverted item; an empty state file is removed.
  if ((dry_run)); then echo "would: delete '$1' from $STATE_FILE"; return 0; fi
  local rest
  rest=$(grep -vxF -- "$1" "$STATE_FILE" || true)
  if [[ -n $rest ]]; then printf '%s\n' "$rest" >"$STATE_FILE"; else rm -f "$STATE_FILE"; fi
}

# Prints the sysfs directories holding the counters for pages of SIZE kB: one per NUMA node,
# or the system-wide one on a kernel built without NUMA, which has no node directories.
page_dirs() {
  local d found=0
  for d in "$NODE_SYSFS"/node[0-9]*/hugepages/hugepages-"$1"kB; do
    if [[ -d $d ]]; then echo "$d"; found=1; fi
  done
  if ((!found)) && [[ -d $MM_SYSFS/hugepages-$1kB ]]; then echo "$MM_SYSFS/hugepages-$1kB"; fi
}
label() { # Name a page directory after its node, for messages.
  if [[ $1 == "$NODE_SYSFS"/* ]]; then local n=${1#"$NODE_SYSFS"/}; echo "${n%%/*}"; else echo system; fi
}
set_pages() { # DIR COUNT SIZE
  local dir=$1 want=$2 size=$3 got
  if (($(<"$dir/nr_hugepages") == want)); then echo "already: $(label "$dir") has $want $size pages"; return 0; fi
  put "$dir/nr_hugepages" "$want"
  if ((dry_run)); then return 0; fi
  # The kernel reserves what it can find contiguous, which on a long-running host may be less.
  got=$(<"$dir/nr_hugepages")
  if ((got != want)); then
    warn "$(label "$dir") got only $got of $want $size pages; memory is fragmented, so reserve them at boot (hugepages= on the kernel command line)"
    incomplete=1
  fi
}

# Prints the type of the file system mounted on DIR (the top one if several are stacked).
mount_type() { awk -v d="$1" '$2 == d { t = $3 } END { print t }' /proc/mounts; }
ensure_mount() { # DIR PAGESIZE
  local dir=$1 type
  type=$(mount_type "$dir")
  if [[ $type == hugetlbfs ]]; then echo "already: hugetlbfs is mounted at $dir"; return 0; fi
  [[ -z $type ]] || die "$dir is a $type mount, not hugetlbfs; choose another --mount directory"
  [[ -d $dir ]] || act mkdir -p "$dir"
  act mount -t hugetlbfs -o "pagesize=$2" nodev "$dir"
  record "mount $dir"
}
unmount() { # DIR
  if [[ $(mount_type "$1") == hugetlbfs ]]; then act umount "$1"; else echo "already: no hugetlbfs mounted at $1"; fi
}

current_driver() { # PCI_ADDR: prints the bound driver, or nothing.
  local link=$PCI_SYSFS/$1/driver
  if [[ -e $link ]]; then basename "$(readlink -f "$link")"; fi
}
# Handing a device to a user-space driver takes it away from the kernel at once, so refuse
# anything that is not a NIC (a disk controller would take the file systems with it) and any
# NIC the kernel is using: one that is up or has an address may carry the host's own traffic.
check_nic() { # PCI_ADDR
  local dev=$PCI_SYSFS/$1 class link ifc
  [[ -e $dev ]] || die "no PCI device $1 (list them with 'lspci -D')"
  [[ $mode == setup && $(current_driver "$1") != "$driver" ]] || return 0
  class=$(<"$dev/class")
  [[ $class == 0x02* ]] || die "PCI device $1 is not a network controller (class $class); refusing to bind it"
  # Interfaces usually sit in DEV/net/, but virtio NICs put theirs one level down
  # (DEV/virtio0/net/), so look for every interface whose sysfs path runs through the device.
  for link in /sys/class/net/*; do
    [[ $(readlink -f "$link") == */"$1"/* ]] || continue
    ifc=${link##*/}
    if [[ $(<"/sys/class/net/$ifc/operstate") == up ]] || (($(<"/sys/class/net/$ifc/flags") & 1)) ||
      [[ -n $(ip -o addr show dev "$ifc" 2>/dev/null) ]]; then
      die "interface $ifc (PCI $1) is in use by the kernel (up or has an address); if it is really free, run 'ip addr flush dev $ifc; ip link set $ifc down' first"
    fi
  done
}
need_devbind() {
  [[ -x $DEVBIND ]] || die "dpdk-devbind.py not found at $DEVBIND, so NICs cannot be bound; install it with 'apt-get install dpdk' (or set DPDK_DEVBIND)"
}

show_state() {
  local d d1g one_g
  echo "hugepages per node (total/free):"
  for d in "${dirs2m[@]}"; do
    d1g=${d%/*}/hugepages-1048576kB one_g=unsupported
    [[ -d $d1g ]] && one_g="$(<"$d1g/nr_hugepages")/$(<"$d1g/free_hugepages")"
    printf '  %-8s 2M: %s/%s  1G: %s\n' "$(label "$d")" "$(<"$d/nr_hugepages")" "$(<"$d/free_hugepages")" "$one_g"
  done
  echo "hugetlbfs mounts:"
  awk '$3 == "hugetlbfs" { print "  " $2 " (" $4 ")"; n++ } END { if (!n) print "  none" }' /proc/mounts
  echo "state file $STATE_FILE:"
  if [[ -f $STATE_FILE ]]; then sed 's/^/  /' "$STATE_FILE"; else echo "  none"; fi
  echo "network devices:"
  if [[ -x $DEVBIND ]]; then
    "$DEVBIND" --status-dev net 2>&1 | sed 's/^/  /' || echo "  ($DEVBIND --status-dev net failed)"
  else
    echo "  $DEVBIND not installed ('apt-get install dpdk' to bind NICs)"
  fi
}

# Preflight: find every reason to refuse before changing anything, so a refused run leaves
# the host exactly as it was.
mapfile -t dirs2m < <(page_dirs 2048)
mapfile -t dirs1g < <(page_dirs 1048576)
((${#dirs2m[@]} > 0)) || die "this kernel has no 2 MiB hugepages ($MM_SYSFS/hugepages-2048kB is missing)"
if [[ $mode == setup ]]; then
  ((pages_1g == 0 || ${#dirs1g[@]} > 0)) || die "--pages-1g $pages_1g: this CPU or kernel has no 1 GiB hugepages ($MM_SYSFS/hugepages-1048576kB is missing; the CPU needs the pdpe1gb flag)"
  for d in "$mount_dir" "$mount_dir-1G"; do
    t=$(mount_type "$d")
    [[ -z $t || $t == hugetlbfs ]] || die "$d is a $t mount, not hugetlbfs; choose another --mount directory"
  done
fi
to_bind=()
for addr in "${binds[@]}"; do
  check_nic "$addr"
  if [[ $mode == setup && $(current_driver "$addr") != "$driver" ]]; then to_bind+=("$addr"); fi
done
if ((${#to_bind[@]} > 0)); then need_devbind; fi

case $mode in
  status)
    show_state
    exit 0 ;;
  setup)
    for d in "${dirs2m[@]}"; do set_pages "$d" "$pages_2m" 2M; done
    # 1 GiB pages are best reserved at boot, so a count of 0 leaves any such reservation alone.
    if ((pages_1g > 0)); then
      for d in "${dirs1g[@]}"; do set_pages "$d" "$pages_1g" 1G; done
    fi
    ensure_mount "$mount_dir" 2M
    if ((pages_1g > 0)); then ensure_mount "$mount_dir-1G" 1G; fi
    if ((${#binds[@]} > 0)); then
      if [[ -d /sys/bus/pci/drivers/$driver ]]; then echo "already: driver $driver is loaded"; else act modprobe "$driver"; fi
      if [[ $driver == vfio-pci ]] && ! compgen -G '/sys/kernel/iommu_groups/*' >/dev/null; then
        warn "no IOMMU groups: vfio-pci needs intel_iommu=on or amd_iommu=on on the kernel command line (or vfio's enable_unsafe_noiommu_mode)"
      fi
    fi
    for addr in "${binds[@]}"; do
      old=$(current_driver "$addr")
      if [[ $old == "$driver" ]]; then echo "already: $addr is bound to $driver"; continue; fi
      # Record the kernel driver before binding, so that even an interrupted run can be undone.
      record "bind $addr ${old:-none}"
      act "$DEVBIND" --bind="$driver" "$addr"
    done ;;
  undo)
    # Devices go back first and pages last: pages still mapped by a running DPDK process would
    # not be freed anyway, and unmounting fails loudly while one still uses them.
    if [[ -f $STATE_FILE ]]; then
      mapfile -t lines <"$STATE_FILE"
      for line in "${lines[@]}"; do
        read -r kind addr old _ <<<"$line"
        [[ $kind == bind ]] || continue
        if ((${#binds[@]} > 0)) && [[ " ${binds[*]} " != *" $addr "* ]]; then continue; fi
        cur=$(current_driver "$addr")
        if [[ $old == none && -z $cur ]]; then
          echo "already: $addr has no driver, as before setup"
        elif [[ $cur == "$old" ]]; then
          echo "already: $addr is bound to $old"
        else
          need_devbind
          if [[ $old == none ]]; then act "$DEVBIND" --unbind "$addr"; else act "$DEVBIND" --bind="$old" "$addr"; fi
        fi
        forget "$line"
      done
      for addr in "${binds[@]}"; do
        [[ " ${lines[*]} " == *"bind $addr "* ]] || warn "$addr is not recorded in $STATE_FILE; leaving its driver alone"
      done
      for line in "${lines[@]}"; do
        if [[ $line == "mount "* ]]; then unmount "${line#mount }"; forget "$line"; fi
      done
    else
      echo "no state file $STATE_FILE: the NICs' original drivers are unknown, so only pages and mounts are reverted"
      unmount "$mount_dir-1G"
      unmount "$mount_dir"
    fi
    for d in "${dirs2m[@]}"; do set_pages "$d" 0 2M; done
    for d in "${dirs1g[@]}"; do set_pages "$d" 0 1G; done ;;
esac

if ((dry_run)); then echo "state (unchanged by --dry-run):"; else echo "state:"; fi
show_state
((!incomplete)) || die "not every hugepage could be reserved; see the warnings above"
