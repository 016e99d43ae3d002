#!/usr/bin/env bash
# Builds the parts of the demo and test containers that boot, once, into DIRECTORY (default
# .build/boot-parts): Debian's kernel (vmlinuz) and a busybox initramfs whose /init prints a
# marker line with the container's name and its kernel command line, then powers off. The
# packages are fetched with `apt-get download` and only unpacked: nothing is installed into the
# host's /boot. Prints nothing when the parts are already there; exits non-zero (with the
# reason) when the packages cannot be fetched.
set -euo pipefail
directory="${1:-$(dirname "$0")/../../.build/boot-parts}"
mkdir -p "$directory"
directory="$(cd "$directory" && pwd)"
[ -s "$directory/vmlinuz" ] && [ -s "$directory/initrd.img" ] && exit 0

work="$(mktemp -d "$directory/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
# linux-image-amd64 is a metapackage; the kernel is in the package it depends on (its version
# moves with Debian's security updates).
kernel_package="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
if [ -z "$kernel_package" ]; then
    echo "boot-parts: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2
    exit 1
fi
if ! apt-get download -qq "$kernel_package" busybox-static >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get download -qq "$kernel_package" busybox-static >/dev/null || { echo "boot-parts: cannot download $kernel_package and busybox-static" >&2; exit 1; }
fi
dpkg-deb -x linux-image-*.deb kernel
dpkg-deb -x busybox-static_*.deb busybox
mkdir -p root/bin root/proc root/sys root/dev
cp busybox/bin/busybox root/bin/busybox
# /init: mount /proc, print the marker with the name the command line gives (pxe_name=...) and
# the whole command line, power off. `poweroff -f` ends QEMU by itself.
cat > root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
name=unnamed
for word in $(/bin/busybox cat /proc/cmdline); do
    case "$word" in pxe_name=*) name="${word#pxe_name=}" ;; esac
done
echo "PXE-CATALOG-BOOTED name=$name cmdline=[$(/bin/busybox cat /proc/cmdline)]"
/bin/busybox sync
/bin/busybox poweroff -f
INIT
chmod 0755 root/init
(cd root && find . | cpio -o -H newc --quiet | gzip -9) > initrd.img
cp kernel/boot/vmlinuz-* vmlinuz
echo "${kernel_package#linux-image-}" > kernel-version
mv vmlinuz initrd.img kernel-version "$directory/"
