#!/usr/bin/env bash
# `make lab`: a boot network of its own, in one command. A network namespace `pxe-lab` with a
# bridge `pxelab0` (10.77.0.1/24, fd77::1/64), the worker and nginx on it (port 80), and dnsmasq
# answering DHCP on it in server mode (addresses 10.77.0.100-199, loaders by TFTP, the boot
# script by HTTP), configured by `pxe-catalog dnsmasq-config` from the same configuration.
# Nothing leaves the namespace. `make boot-demo NET=lab` (UEFI=1, HTTPBOOT=1) boots a QEMU machine
# on the bridge the real way. Ctrl-C stops everything and removes the namespace. Needs root.
# LAB_NAMESPACE names the namespace (tests use their own); STATE_DIR is where it keeps its files.
set -euo pipefail
binary=$(realpath "$1")
namespace=${LAB_NAMESPACE:-pxe-lab}
bridge=pxelab0
state_dir=${STATE_DIR:-$(pwd)/.state-lab}
mkdir -p "$state_dir"
state_dir=$(realpath "$state_dir")
[ "$(id -u)" -eq 0 ] || { echo "make lab needs root (network namespaces, a bridge, DHCP's port 67)." >&2; exit 1; }
if ip netns list | grep -qw "$namespace"; then
    echo "A lab is already running (network namespace $namespace); stop it first, or remove it: ip netns del $namespace" >&2
    exit 1
fi

run_pid=""
dnsmasq_pid=""
stop() {
    trap - INT TERM EXIT
    [ -n "$dnsmasq_pid" ] && kill -TERM "$dnsmasq_pid" 2>/dev/null || true
    [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    ip netns del "$namespace" 2>/dev/null || true
    echo "lab stopped; network namespace $namespace removed." >&2
}
trap stop INT TERM EXIT

ip netns add "$namespace"
ip -n "$namespace" link set lo up
ip -n "$namespace" link add "$bridge" type bridge stp_state 0 forward_delay 0
ip -n "$namespace" addr add 10.77.0.1/24 dev "$bridge"
ip -n "$namespace" -6 addr add fd77::1/64 dev "$bridge" nodad
ip -n "$namespace" link set "$bridge" up

mkdir -p "$state_dir/log"
# UEFI machines get Debian's signed shim + GRUB (the default), from the files `make
# secure-boot-loaders` unpacked: nothing is installed on this machine.
loaders="$(cd "$(dirname "$0")/../.." && pwd)/.build/secure-boot"
export EXTRA_CONFIG="\"dhcp\": { \"mode\": \"server\", \"interface\": \"$bridge\", \"range\": \"10.77.0.100-10.77.0.199\", \"router_advertisements\": true, \"shim_loader\": \"$loaders/shimx64.efi.signed\", \"grub_loader\": \"$loaders/grubnetx64.efi.signed\", \"user\": \"root\", \"log_file\": \"$state_dir/log/dnsmasq.log\", \"tftp_root\": \"$state_dir/tftp\" }"
STATE_DIR="$state_dir" LISTEN=10.77.0.1 PORT=80 ip netns exec "$namespace" "$(dirname "$0")/run.sh" "$binary" &
run_pid=$!
for _ in $(seq 600); do [ -S "$state_dir/worker.sock" ] && break; kill -0 "$run_pid" 2>/dev/null || exit 1; sleep 0.1; done
"$binary" tftp-root --config "$state_dir/config.json" >/dev/null
ip netns exec "$namespace" "$binary" dnsmasq-config --config "$state_dir/config.json" --output "$state_dir/dnsmasq.conf"
ip netns exec "$namespace" dnsmasq --keep-in-foreground --conf-file="$state_dir/dnsmasq.conf" --pid-file= &
dnsmasq_pid=$!

cat >&2 <<TEXT

The lab is up: network namespace $namespace, bridge $bridge (10.77.0.1/24), pxe-catalog on
http://10.77.0.1/ inside it, dnsmasq answering DHCP (server mode) and TFTP on the bridge.
  make boot-demo NET=lab                  # a BIOS machine on the bridge: real DHCP, the NIC's iPXE ROM
  make boot-demo NET=lab UEFI=1           # UEFI: the firmware's own PXE, shim + GRUB by TFTP
  make boot-demo NET=lab SECUREBOOT=1     # the same with Secure Boot on (Microsoft's keys)
  make boot-demo NET=lab UEFI=1 HTTPBOOT=1   # UEFI HTTP Boot: ipxe.efi from nginx
  ip netns exec $namespace curl -s http://10.77.0.1/pxe
dnsmasq's log: $state_dir/log/dnsmasq.log (the boot log shows it: GET /boots). Ctrl-C stops the lab.

TEXT
wait -n "$run_pid" "$dnsmasq_pid" || true
