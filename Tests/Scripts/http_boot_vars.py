#!/usr/bin/env python3
"""Writes a copy of an OVMF variable store whose next boot (BootNext, once) is UEFI HTTP Boot
with the URI the DHCP answer gives (an empty Uri() device path), so that a test machine does HTTP
Boot at once instead of after OVMF's PXEv4 and PXEv6 attempts (over two minutes). Uses
virt-firmware (PyPI), installed with the test tools.

usage: http_boot_vars.py TEMPLATE_VARS OUTPUT_VARS"""
import sys

from virt.firmware.efi import devpath
from virt.firmware.varstore import autodetect


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    store = autodetect.open_varstore(sys.argv[1])
    if store is None:
        print(f"{sys.argv[1]} is not an OVMF variable store", file=sys.stderr)
        return 1
    variables = store.get_varlist()
    variables.set_boot_entry(0x99, "UEFI HTTP Boot (URI from DHCP)", devpath.DevicePath.uri(""))
    variables.set_boot_next(0x99)
    store.write_varstore(sys.argv[2], variables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
