#!/usr/bin/env bash
# Unpacks Debian 12's netboot installer (text frontend: kernel `linux` and `initrd.gz`) into
# DIRECTORY (default .build/installer), once, for the unattended-install tests. The package is
# fetched with `apt-get download` and only unpacked. Prints nothing when the parts are there;
# exits non-zero (with the reason) when the package cannot be fetched.
set -euo pipefail
directory="${1:-$(dirname "$0")/../../.build/installer}"
mkdir -p "$directory"
directory="$(cd "$directory" && pwd)"
[ -s "$directory/linux" ] && [ -s "$directory/initrd.gz" ] && exit 0

package=debian-installer-12-netboot-amd64
work="$(mktemp -d "$directory/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download -qq "$package" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get download -qq "$package" >/dev/null || { echo "installer-parts: cannot download $package" >&2; exit 1; }
fi
dpkg-deb -x "$package"_*.deb unpacked
images=unpacked/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64
cp "$images/linux" "$images/initrd.gz" .
dpkg-deb -f "$package"_*.deb Version > version
mv linux initrd.gz version "$directory/"
