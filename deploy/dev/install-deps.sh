#!/usr/bin/env bash
# Installs the Debian packages pxe-catalog needs to build, run and test, if any are missing.
# Quiet and idempotent: does nothing when everything is there.
set -euo pipefail

# qemu-system-x86 and ipxe-qemu: the end-to-end test that boots real iPXE firmware; iproute2: its network namespace.
packages=(nginx libfcgi-dev zlib1g-dev pkg-config curl iproute2 qemu-system-x86 ipxe-qemu)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
