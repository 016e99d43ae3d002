#!/usr/bin/env python3
"""Proves check_responses.py can fail: each kind of violation, fed as a recorded response,
must be reported, and a conforming record must not be. Run by `make contract` before the
real check."""
import json
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ERROR = {"content-type": "application/json; charset=utf-8"}


def record(method, path, status, headers, body=None, query=""):
    item = {"method": method, "path": path, "query": query, "request_headers": [], "status": status, "headers": headers}
    if body is not None:
        item["body"] = body
    return item


def run(document, records):
    with tempfile.TemporaryDirectory() as directory:
        (pathlib.Path(directory) / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        result = subprocess.run([sys.executable, str(HERE / "check_responses.py"), document, directory],
                                capture_output=True, text=True)
        return result.returncode, result.stdout


def main():
    document = sys.argv[1]
    operations = json.loads(pathlib.Path(document).read_text())["paths"]
    healthy = record("GET", "/healthz", 200, ERROR, '{"status":"ok"}')
    cases = {
        "an undocumented success": record("GET", "/pxe/boot.ipxe", 201, {"content-type": "text/plain"}, "#!ipxe\n"),
        "a refusal that is not the JSON error": record("GET", "/pxe/boot.ipxe", 418, ERROR, '{"error":"x","code":1}'),
        "a body that breaks its schema": record("GET", "/healthz", 200, ERROR, '{"status":"fine"}'),
        "an extra field": record("GET", "/healthz", 200, ERROR, '{"status":"ok","debug":1}'),
        "the wrong content type": record("GET", "/pxe/menu.ipxe", 200, {"content-type": "text/html"}, "<html>"),
        "an HTML error on an unknown path": record("GET", "/nowhere", 404, {"content-type": "text/html"}, "<html>"),
        "a success on an unknown path": record("GET", "/nowhere", 200, ERROR, "{}"),
        "a 405 without Allow": record("DELETE", "/pxe", 405, ERROR, '{"error":"no"}'),
        "a bad Retry-After": record("GET", "/containers/0123456789ab/kernel", 503, {**ERROR, "retry-after": "soon"}, '{"error":"x"}'),
    }
    failed = False
    status, output = run(document, [healthy])
    if "no end-to-end test received an answer" not in output or status != 1:
        print("FAIL: operations never answered are not reported")
        failed = True
    for name, bad in cases.items():
        status, output = run(document, [healthy, bad])
        problems = [line for line in output.splitlines() if "no end-to-end test received" not in line]
        if status != 1 or not problems:
            print(f"FAIL: {name} is not reported")
            failed = True
    if failed:
        return 1
    print(f"check_responses.py reports all {len(cases) + 1} kinds of violation ({len(operations)} documented paths)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
