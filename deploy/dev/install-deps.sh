#!/usr/bin/env bash
# Installs the Debian packages (and, for tests, the PyPI tools) that one use of pxe-catalog
# needs, if any are missing. Quiet and idempotent: does nothing when everything is there.
#
#   install-deps.sh run        building and running (`make run`, `make build`, `make install`)
#   install-deps.sh boot-demo  ... and booting a QEMU machine from it (`make boot-demo`)
#   install-deps.sh test       ... and every test (`make test`)
#   install-deps.sh bench      ... and the benchmarks (`make bench`)
# Each level includes the ones above it.
set -euo pipefail
profile=${1:-run}

# Building and running: nginx, the C libraries the binary links (libfcgi, zlib, zstd, libdeflate,
# libcrypto, SQLite; libpq's header: the binary opens libpq5 only for a PostgreSQL store),
# pkg-config to find them; Debian's python3-yaml turns
# docs/openapi.yaml into the openapi.json nginx serves; curl and cpio make the demo's Linux
# container (deploy/dev/boot-parts.sh: Debian's kernel and busybox, fetched with apt-get download
# and only unpacked). Optional at run time, not installed here: tesseract-ocr (the built-in
# analyzer of catalog.analyzer).
packages=(nginx libfcgi-dev zlib1g-dev libzstd-dev libdeflate-dev libssl-dev libsqlite3-dev libpq-dev pkg-config python3-yaml curl cpio)
case "$profile" in
    run) ;;
    boot-demo|test|bench)
        # QEMU with Debian's iPXE option ROMs (BIOS) and OVMF (UEFI); for `make lab`, dnsmasq and
        # Debian's iPXE loaders (ipxe), and iproute2 for the lab's network namespace.
        packages+=(qemu-system-x86 ipxe-qemu ovmf dnsmasq-base ipxe iproute2)
        ;;&
    test|bench)
        # postgresql: the fleet tests start their own cluster; systemd: systemd-analyze verify of the units; python3-venv and
        # python3-apt: the Ansible role checks; chromium, chromium-driver, python3-selenium,
        # fonts-dejavu-core: the console's real-browser test; tesseract-ocr: the built-in analyzer's test;
        packages+=(postgresql systemd python3-venv python3-apt chromium chromium-driver python3-selenium fonts-dejavu-core tesseract-ocr)
        ;;&
    bench)
        # The load generator and the chart.
        packages+=(wrk gnuplot-nox)
        ;;
    boot-demo|test) ;;
    *) echo "install-deps.sh: unknown profile '$profile' (run, boot-demo, test or bench)" >&2; exit 64 ;;
esac

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

case "$profile" in test|bench) ;; *) exit 0 ;; esac

# ansible-core from PyPI, in a virtualenv under .build (git ignores it), for the role's checks.
venv="$(dirname "$0")/../../.build/ansible"
if [ ! -x "$venv/bin/ansible-playbook" ]; then
    echo "Installing ansible-core into .build/ansible" >&2
    python3 -m venv "$venv" && "$venv/bin/pip" install -q ansible-core >/dev/null \
        || echo "warning: ansible-core could not be installed; the Ansible role checks will be skipped" >&2
fi

# The test tools from PyPI, in .build/tools: openapi-spec-validator checks docs/openapi.yaml
# (make static-check); jsonschema checks every response the end-to-end tests receive against it;
# schemathesis fuzzes the running API from it; virt-firmware writes the OVMF variable stores of
# the HTTP Boot machines. Required: without them the contract is unchecked, so this fails
# rather than skipping.
tools="$(dirname "$0")/../../.build/tools"
if [ ! -x "$tools/bin/schemathesis" ] || ! "$tools/bin/python" -c 'import yaml, jsonschema, openapi_spec_validator, virt.firmware' 2>/dev/null; then
    echo "Installing the test tools into .build/tools" >&2
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q pyyaml openapi-spec-validator jsonschema schemathesis virt-firmware >/dev/null
fi
