#!/usr/bin/env bash
# Writes an OVMF variable store whose next boot is UEFI HTTP Boot with the URI from DHCP
# (`make boot-demo NET=lab HTTPBOOT=1`): without it OVMF tries PXE over IPv4 and IPv6 first. Uses
# virt-firmware from PyPI in .build/boot-demo/tools (installed once).
set -euo pipefail
output=$1
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.build/boot-demo/tools"
if ! "$tools/bin/python" -c 'import virt.firmware' 2>/dev/null; then
    echo "Installing virt-firmware into .build/boot-demo/tools" >&2
    python3 -m venv "$tools" && "$tools/bin/pip" install -q virt-firmware >/dev/null
fi
mkdir -p "$(dirname "$output")"
"$tools/bin/python" "$root/Tests/Scripts/http_boot_vars.py" /usr/share/OVMF/OVMF_VARS_4M.fd "$output"
