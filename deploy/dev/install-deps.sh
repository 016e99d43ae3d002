#!/usr/bin/env bash
# Installs the Debian packages pxe-catalog needs to build, run and test, if any are missing.
# Quiet and idempotent: does nothing when everything is there.
set -euo pipefail

# qemu-system-x86, ipxe-qemu and ovmf: the tests that boot real iPXE firmware (BIOS and UEFI); iproute2: their
# network namespaces; cpio: the busybox initramfs of the containers that boot (deploy/dev/boot-parts.sh).
# libsqlite3-dev, libpq-dev: the settings store backends; postgresql: the fleet tests start their own cluster.
# systemd: systemd-analyze verify of the units; python3-venv and python3-apt: the Ansible role checks.
# chromium, chromium-driver, python3-selenium, fonts-dejavu-core: the console's real-browser test;
# tesseract-ocr: the built-in analyzer (catalog.analyzer) and its test.
packages=(nginx libfcgi-dev zlib1g-dev libzstd-dev libdeflate-dev libssl-dev libsqlite3-dev libpq-dev postgresql pkg-config curl iproute2 qemu-system-x86 ipxe-qemu ovmf cpio systemd python3-venv python3-apt
          chromium chromium-driver python3-selenium fonts-dejavu-core tesseract-ocr)
# BENCH=1: also what `make bench` needs (load generator, chart).
[ -n "${BENCH:-}" ] && packages+=(wrk gnuplot-nox)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing missing Debian packages: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ansible-core from PyPI, in a virtualenv under .build (git ignores it), for the role's checks.
venv="$(dirname "$0")/../../.build/ansible"
if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "Installing ansible-core into .build/ansible" >&2
    python3 -m venv "$venv" && "$venv/bin/pip" install -q ansible-core >/dev/null \
        || echo "warning: ansible-core could not be installed; the Ansible role checks will be skipped" >&2
fi

# The contract tools from PyPI, in .build/tools: PyYAML and openapi-spec-validator build
# openapi.json from docs/openapi.yaml (make static); jsonschema checks every response the
# end-to-end tests receive against it; schemathesis fuzzes the running API from it. Required:
# without them the contract is unchecked, so this fails rather than skipping.
tools="$(dirname "$0")/../../.build/tools"
if [ ! -x "$tools/bin/schemathesis" ] || ! "$tools/bin/python" -c 'import yaml, jsonschema, openapi_spec_validator' 2>/dev/null; then
    echo "Installing the contract tools into .build/tools" >&2
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q pyyaml openapi-spec-validator jsonschema schemathesis >/dev/null
fi
