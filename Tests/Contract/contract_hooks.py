"""schemathesis hooks for `make test`'s API fuzzing (loaded through SCHEMATHESIS_HOOKS).

One check of our own on top of schemathesis' checks: a refused change (a POST answered 4xx or
5xx) must leave the saved settings exactly as they were, both as the API shows them and as the
bytes on disk. The state is taken before each POST and compared after a refusal."""
import hashlib
import os
import pathlib

import requests
import schemathesis

BASE_URL = os.environ["CONTRACT_BASE_URL"]
SETTINGS_FILES = [pathlib.Path(path) for path in os.environ.get("CONTRACT_SETTINGS_FILES", "").split(":") if path]
_before = {}


def saved_state():
    """What a refused request must not change: every entry's settings through the API, the
    menu, and the saved settings' bytes."""
    listing = requests.get(BASE_URL + "/containers", timeout=10).json()["containers"]
    settings = sorted((item["id"], item["pxe_enabled"], item["boot_order"]) for item in listing)
    pxe = requests.get(BASE_URL + "/pxe", timeout=10).json()["pxe_containers"]
    menu = [(item["id"], item["name"], item["pxe_name"], item["pxe_description"], item["pxe_cmdline"], item["boot_order"])
            for item in pxe]
    files = {str(path): hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None for path in SETTINGS_FILES}
    return {"settings": settings, "menu": menu, "files": files}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.method.upper() == "POST":
        _before[id(case)] = saved_state()


@schemathesis.check
def refused_changes_leave_the_settings_untouched(ctx, response, case):
    if case.method.upper() != "POST" or response.status_code < 400:
        return None
    before = _before.pop(id(case), None)
    if before is None:
        return None
    after = saved_state()
    for part in ("settings", "menu", "files"):
        if before[part] != after[part]:
            raise AssertionError(f"a refused {case.method} {case.path} ({response.status_code}) changed the saved {part}")
    return None
