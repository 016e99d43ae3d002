#!/usr/bin/env python3
"""Two builds of pxe-catalog side by side, in one sitting, interleaved: the API's hot requests
(GET /containers/{id} and GET /pxe/menu.ipxe on 1,000 entries, through nginx), admin toggles per
second (SQLite, each acknowledged once durable) and the payload decoder. For a change that
should not move these numbers (a restructuring): `make build`, keep the old binary, build the
new one, then

    python3 bench/compare.py --before /tmp/pxe-catalog-old [--after .build/release/pxe-catalog]

Prints a Markdown table of medians and after/before ratios (and writes it with --markdown).
Loopback and unix sockets only; every process it starts is stopped by PID.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402
import settings as store_bench  # noqa: E402
from run import REPO, interleave, run, wrk  # noqa: E402


def with_binary(binary, make):
    """Builds something of run.py or settings.py with `binary` as their pxe-catalog."""
    saved = (common.BIN, store_bench.BIN)
    common.BIN = store_bench.BIN = binary
    try:
        return make()
    finally:
        common.BIN, store_bench.BIN = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="the baseline pxe-catalog binary")
    parser.add_argument("--after", default=common.BIN, help="the pxe-catalog binary to compare (default: .build/release/pxe-catalog)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4, help="duration of each wrk run and toggle run")
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--payload-mib", type=int, default=256)
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args()
    builds = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}

    work = tempfile.mkdtemp(prefix="pxe-catalog-compare.")
    stacks, nodes = {}, {}
    try:
        c_binary = os.path.join(work, "c-responder")
        run(["cc", "-O2", f"-DTHREADS={2 * os.cpu_count()}", "-o", c_binary, os.path.join(REPO, "bench/c-responder.c"), "-lfcgi", "-lpthread"])
        files = os.path.join(work, "files")
        os.makedirs(files)
        common.make_png_file(os.path.join(files, "4k.rts.png"), 4096)
        four_k = json.loads(run([builds["after"], "scan", files]).stdout)["containers"][0]["id"]

        print("API ...", flush=True)
        for name, binary in builds.items():
            stacks[name] = with_binary(binary, lambda: common.start_stack_with_catalog(
                work, f"stack-{name}", os.path.join(work, f"catalog-{name}"), args.entries, files, c_binary))
            stacks[name].wait_quiet()
        targets = {f"{request} ({name})": (name, path) for request, path in
                   [("GET /containers/{id}", f"/containers/{four_k}"), ("GET /pxe/menu.ipxe", "/pxe/menu.ipxe")]
                   for name in builds}
        api = interleave(targets, args.rounds, lambda target: wrk(stacks[target[0]].url("worker", target[1]), 64, args.seconds))
        for stack in stacks.values():
            stack.stop()
        stacks.clear()

        print("toggles ...", flush=True)
        catalog = os.path.join(work, "toggle-catalog")
        run([builds["after"], "generate-catalog", catalog, str(args.entries)])
        for name, binary in builds.items():
            node = with_binary(binary, lambda: store_bench.Node(work, f"node-{name}", catalog, {}))
            with_binary(binary, node.start)
            nodes[name] = node
        ids = store_bench.entry_ids(nodes["after"])
        toggles = interleave({name: name for name in builds}, args.rounds,
                             lambda name: store_bench.toggles_per_second(nodes[name], ids, args.seconds))
        for node in nodes.values():
            node.stop()
        nodes.clear()

        print("decode ...", flush=True)
        scratch = os.path.join(work, "decode")
        os.makedirs(scratch)
        payload = os.path.join(scratch, "payload.img")
        with open(payload, "wb") as f:
            for _ in range(args.payload_mib):
                f.write(os.urandom(1 << 20))
        container = os.path.join(scratch, "large.rts.png")
        run([builds["after"], "pack", container, "--disk", payload, "--name", "Large"])
        os.remove(payload)
        decode = interleave(builds, args.rounds, lambda binary: json.loads(
            run([binary, "bench-decode", container, "--scratch", scratch]).stdout)["seconds"])
    finally:
        for stack in stacks.values():
            stack.stop()
        for node in nodes.values():
            node.stop()
        shutil.rmtree(work, ignore_errors=True)

    median = statistics.median
    rows = []
    for request in ["GET /containers/{id}", "GET /pxe/menu.ipxe"]:
        before = median(r["rps"] for r in api[f"{request} ({'before'})"])
        after = median(r["rps"] for r in api[f"{request} ({'after'})"])
        rows.append((f"{request}, {args.entries} entries (req/s)", before, after, after / before))
    before, after = median(r["toggles_per_s"] for r in toggles["before"]), median(r["toggles_per_s"] for r in toggles["after"])
    rows.append((f"toggles, SQLite, {args.entries} entries (per s)", before, after, after / before))
    before, after = median(decode["before"]), median(decode["after"])
    # Seconds: lower is better, so the ratio is before/after (above 1: the new build is faster).
    rows.append((f"decode + verify {args.payload_mib} MiB (s; ratio before/after)", before, after, before / after))
    lines = [f"{args.rounds} interleaved rounds, medians; ratio above 1: the new build is faster.", "",
             "| measure | before | after | ratio |", "|---|---|---|---|"]
    lines += [f"| {name} | {b:,.2f} | {a:,.2f} | {ratio:.3f} |" for name, b, a, ratio in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
