#!/usr/bin/env bash
# Unpacks Debian's signed shim and network GRUB into DIRECTORY (default .build/secure-boot):
# shimx64.efi.signed (shim-signed, signed by Microsoft's UEFI CA) and grubnetx64.efi.signed
# (grub-efi-amd64-signed, signed by Debian, trusted by shim), for the Secure Boot tests and
# `make lab`. The packages are fetched with `apt-get download` and only unpacked: nothing is
# installed, so the host's own boot loader is never touched. Prints nothing when the files are
# there; exits non-zero (with the reason) when the packages cannot be fetched.
set -euo pipefail
directory="${1:-$(dirname "$0")/../../.build/secure-boot}"
mkdir -p "$directory"
directory="$(cd "$directory" && pwd)"
[ -s "$directory/shimx64.efi.signed" ] && [ -s "$directory/grubnetx64.efi.signed" ] && exit 0

work="$(mktemp -d "$directory/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download -qq shim-signed grub-efi-amd64-signed >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get download -qq shim-signed grub-efi-amd64-signed >/dev/null || { echo "secure-boot-loaders: cannot download shim-signed and grub-efi-amd64-signed" >&2; exit 1; }
fi
dpkg-deb -x shim-signed_*.deb shim
dpkg-deb -x grub-efi-amd64-signed_*.deb grub
cp shim/usr/lib/shim/shimx64.efi.signed grub/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed "$directory/"
