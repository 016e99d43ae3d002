#!/usr/bin/env python3
"""pxe-catalog benchmarks (run by `make bench`).

Starts its own nginx, pxe-catalog worker and minimal C libfcgi responder on 127.0.0.1, runs
every baseline in the same sitting, interleaves compared runs (A B A B ...) so machine drift
cancels, and writes medians and ratios as Markdown plus a PNG chart to bench/results/.
Load comes from wrk with bounded durations; all traffic stays on loopback.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import real_network
import tftp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, ".build/release/pxe-catalog")
RESULTS = os.path.join(REPO, "bench/results")


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds=15.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def rss_bytes(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


class Stack:
    """nginx with three servers (static files, the C responder, the worker) plus the two
    FastCGI processes; everything under one temporary prefix, stopped by PID."""

    def __init__(self, work, catalog_roots, static_dir, c_binary):
        self.work = work
        self.processes = []
        self.ports = {"static": free_port(), "c": free_port(), "worker": free_port()}
        prefix = os.path.join(work, "nginx")
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        config = {
            "worker": {"socket": os.path.join(work, "worker.sock"), "socket_mode": "0666", "threads": 0},
            # No analyzer: OCR in the background is not what these numbers are about.
            "catalog": {"roots": catalog_roots, "watch": False, "rescan_interval": 0, "analyzer": []},
            "state": {"directory": os.path.join(work, "state")},
            "admin": {"allow_unauthenticated": True},
            "nginx": {"listen": f"127.0.0.1:{self.ports['worker']}"},
            "menu": {"timeout": 5},
            "log": {"level": "warning"},
        }
        self.config_path = os.path.join(work, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        standalone = run([BIN, "nginx-config", "--config", self.config_path, "--standalone", prefix]).stdout
        # Keep-alive towards clients as nginx ships it; no access log (it would cost nginx time in every case alike).
        standalone = standalone.replace(f'access_log "{prefix}/access.log";', "access_log off;")
        # The C ceiling sits behind the very same generated site (admin restriction, buffers,
        # internal location with disable_symlinks), so the two differ only in the FastCGI process.
        ceiling_config = dict(config, worker=dict(config["worker"], socket=os.path.join(work, "c.sock")),
                              catalog=dict(config["catalog"], roots=[static_dir]),
                              nginx={"listen": f"127.0.0.1:{self.ports['c']}"})
        ceiling_path = os.path.join(work, "ceiling.json")
        with open(ceiling_path, "w") as f:
            json.dump(ceiling_config, f)
        ceiling_site = run([BIN, "nginx-config", "--config", ceiling_path]).stdout.replace("pxe_catalog_worker", "c_responder")
        extra = f"""
    server {{
        listen 127.0.0.1:{self.ports['static']};
        location /static/ {{ alias "{static_dir}/"; sendfile on; tcp_nopush on; }}
    }}
{ceiling_site}
"""
        standalone = standalone.rstrip().rstrip("}") + extra + "}\n"
        standalone = standalone.replace("worker_processes 1;", "worker_processes 2;")
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(standalone)
        self.prefix = prefix
        self.c_binary = c_binary

    def start(self):
        self.worker = subprocess.Popen([BIN, "serve", "--config", self.config_path], stderr=open(os.path.join(self.work, "worker.log"), "a"))
        self.processes.append(self.worker)
        c = subprocess.Popen([self.c_binary, os.path.join(self.work, "c.sock")])
        self.processes.append(c)
        # A first start of 100,000 entries saves 100,000 settings rows: minutes on a busy machine.
        if not wait_for(lambda: os.path.exists(os.path.join(self.work, "worker.sock")) and os.path.exists(os.path.join(self.work, "c.sock")), 300):
            self.stop()   # never leave a worker behind
            raise AssertionError("the worker did not start within 300 s")

        nginx = subprocess.Popen(["nginx", "-p", self.prefix, "-c", os.path.join(self.prefix, "nginx.conf")], stderr=subprocess.DEVNULL)
        self.processes.append(nginx)
        self.nginx = nginx
        assert wait_for(lambda: all(can_connect(p) for p in self.ports.values())), "nginx did not start"

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT if process is getattr(self, "nginx", None) else signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []

    def url(self, server, path):
        return f"http://127.0.0.1:{self.ports[server]}{path}"

    def wait_quiet(self):
        def pending():
            with urllib.request.urlopen(self.url("worker", "/status"), timeout=10) as response:
                return json.load(response)["boot"]["pending"]
        wait_until_quiet(self.worker.pid, pending)


def process_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(pid, pending):
    """Until the worker's boot preparer has nothing pending (`pending()` is 0) and the worker has
    stopped working in the background (thumbnails follow the boot parts): its CPU time would be
    taken from what is measured."""
    assert wait_for(lambda: pending() == 0, 600), "the boot parts were not prepared within 600 s"

    def quiet():
        before = process_cpu_seconds(pid)
        time.sleep(1)
        return process_cpu_seconds(pid) - before < 0.02
    assert wait_for(quiet, 600), "the worker kept working in the background for 600 s"


def wrk(url, connections, seconds, threads=2):
    out = run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", url]).stdout
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[transfer.group(2)] if transfer else 0
    p99_match = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(p99_match.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[p99_match.group(2)] if p99_match else float("nan")
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        match = re.search(pattern, out)
        if match:
            errors += sum(int(g) for g in match.groups())
    return {"rps": requests, "p99": p99, "bytes_per_s": float(transfer.group(1)) * scale if transfer else 0.0, "errors": errors}


def interleave(targets, rounds, measure):
    """targets: {name: argument}; runs A B C A B C ...; returns {name: [results]}."""
    results = {name: [] for name in targets}
    for _ in range(rounds):
        for name, argument in targets.items():
            results[name].append(measure(argument))
    return results


def median(values):
    return statistics.median(values) if values else float("nan")


def machine_description():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().replace("nginx version: ", "")
    swift = run(["swift", "--version"]).stdout.splitlines()[0] if shutil.which("swift") else "swift ?"
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Linux {platform.release()}, {nginx}, {swift}"


def make_png_file(path, size):
    """A valid PNG of about `size` bytes (random pixels, stored uncompressed enough)."""
    run([BIN, "generate-catalog", os.path.dirname(path) + "/.tmp-gen", "1"])
    # generate-catalog makes tiny PNGs; pad with a private ancillary chunk to reach the size.
    with open(os.path.join(os.path.dirname(path), ".tmp-gen/batch-0/image-0.rts.png"), "rb") as f:
        png = f.read()
    shutil.rmtree(os.path.join(os.path.dirname(path), ".tmp-gen"))
    import zlib
    body = os.urandom(max(0, size - len(png) - 12))
    chunk = len(body).to_bytes(4, "big") + b"prVt" + body + zlib.crc32(b"prVt" + body).to_bytes(4, "big")
    with open(path, "wb") as f:
        f.write(png[:33] + chunk + png[33:])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=4, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per comparison")
    parser.add_argument("--machines", type=int, default=200, help="simulated machines in the boot storm")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--no-qemu", action="store_true", help="leave out the QEMU boots (no qemu-system-x86 here)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="pxe-catalog-bench.")
    os.makedirs(RESULTS, exist_ok=True)
    c_binary = os.path.join(work, "c-responder")
    # The ceiling gets the same thread count as the worker's default (two per core).
    run(["cc", "-O2", f"-DTHREADS={2 * os.cpu_count()}", "-o", c_binary, os.path.join(REPO, "bench/c-responder.c"), "-lfcgi", "-lpthread"])

    big_mib = 64 if args.quick else 512
    files = os.path.join(work, "files")
    os.makedirs(files)
    print("creating containers ...", flush=True)
    make_png_file(os.path.join(files, "4k.rts.png"), 4096)
    make_png_file(os.path.join(files, "big.rts.png"), big_mib << 20)
    # The Linux container that boots (Debian's kernel, busybox initramfs), and the same parts as
    # plain files for nginx to serve directly: the baseline of part downloads and boots.
    parts = os.path.join(REPO, ".build/boot-parts")
    run([os.path.join(REPO, "deploy/dev/boot-parts.sh"), parts])
    for name in ("vmlinuz", "initrd.img"):
        shutil.copy(os.path.join(parts, name), os.path.join(files, name))
    run([BIN, "pack", os.path.join(files, "linux.rts.png"), "--kernel", os.path.join(parts, "vmlinuz"),
         "--initrd", os.path.join(parts, "initrd.img"), "--cmdline", "console=ttyS0 panic=-1 no_timer_check pxe_name=worker", "--name", "Bench Linux"])
    # An initramfs of a distribution's size (Debian's are 30-60 MB), to show how the per-request
    # cost of the FastCGI hop shrinks against the bytes sent.
    with open(os.path.join(files, "initrd-32m.img"), "wb") as f:
        f.write(os.urandom(32 << 20))
    run([BIN, "pack", os.path.join(files, "linux-32m.rts.png"), "--kernel", os.path.join(parts, "vmlinuz"),
         "--initrd", os.path.join(files, "initrd-32m.img"), "--name", "Bench Linux, large initramfs"])
    ids = {name: json.loads(run([BIN, "scan", files]).stdout) for name in ["scan"]}["scan"]
    id_of = {item["filename"]: item["id"] for item in ids["containers"]}

    sizes = [10, 1000] if args.quick else [10, 1000, 10000]
    report = {"machine": machine_description(), "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "api": {}, "memory": {}}
    for size in sizes:
        synthetic = os.path.join(work, f"catalog-{size}")
        stack = start_stack_with_catalog(work, f"stack-{size}", synthetic, size, files, c_binary)
        try:
            stack.wait_quiet()
            idle_rss = rss_bytes(stack.worker.pid)
            idle_anon = rss_bytes(stack.worker.pid, "RssAnon")
            targets = {
                "nginx static 4 KiB": stack.url("static", "/static/4k.rts.png"),
                "C responder JSON": stack.url("c", "/c/json"),
                "C responder X-Accel": stack.url("c", "/c/xaccel"),
                "GET /containers/{id}": stack.url("worker", f"/containers/{id_of['4k.rts.png']}"),
                "GET /pxe/menu.ipxe": stack.url("worker", "/pxe/menu.ipxe"),
                f"GET /containers": stack.url("worker", "/containers"),
                "GET /pxe": stack.url("worker", "/pxe"),
            }
            if size != sizes[0]:
                for name in ["nginx static 4 KiB", "C responder JSON", "C responder X-Accel", "GET /containers/{id}"]:
                    targets.pop(name)
            print(f"API with {size} entries ...", flush=True)
            peak = [idle_rss]

            def measure(url):
                result = wrk(url, 64, args.seconds)
                peak[0] = max(peak[0], rss_bytes(stack.worker.pid))
                return result

            report["api"][size] = interleave(targets, args.rounds, measure)
            report["memory"][size] = {"idle": idle_rss, "idle_anon": idle_anon, "load": peak[0]}

            if size == sizes[0]:
                print("downloads ...", flush=True)
                report["downloads"] = {}
                for clients in (8, 64):
                    targets = {"direct": stack.url("static", "/static/big.rts.png"),
                               "X-Accel": stack.url("worker", f"/containers/{id_of['big.rts.png']}")}
                    report["downloads"][clients] = interleave(targets, args.rounds, lambda url: wrk(url, clients, args.seconds + 2))
                linux, linux_32m = id_of["linux.rts.png"], id_of["linux-32m.rts.png"]
                for entry in (linux, linux_32m):
                    assert wait_for(lambda: boot_state(stack, entry) == "ready", 120), "the Linux containers were not prepared"
                print("kernel and initrd downloads ...", flush=True)
                report["part_downloads"] = {}
                for label, entry, part, static_name in (("kernel (8 MB)", linux, "kernel", "vmlinuz"), ("initrd (1 MB)", linux, "initrd", "initrd.img"),
                                                        ("initrd (32 MiB)", linux_32m, "initrd", "initrd-32m.img")):
                    # The C responder's redirect to the same file: what the FastCGI hop itself costs.
                    targets = {"direct": stack.url("static", f"/static/{static_name}"),
                               "C X-Accel": stack.url("c", f"/c/xaccel/{static_name}"),
                               "X-Accel": stack.url("worker", f"/containers/{entry}/{part}")}
                    report["part_downloads"][label] = interleave(targets, args.rounds, lambda url: wrk(url, 16, args.seconds))
                print("boot storm ...", flush=True)
                report["storm"] = {}
                for label, urls in (("direct", [stack.url("static", "/static/vmlinuz"), stack.url("static", "/static/initrd.img")]),
                                    ("X-Accel", [stack.url("worker", f"/containers/{linux}/kernel"), stack.url("worker", f"/containers/{linux}/initrd")])):
                    sizes_expected = [os.path.getsize(os.path.join(files, "vmlinuz")), os.path.getsize(os.path.join(files, "initrd.img"))]
                    report["storm"][label] = [boot_storm(stack, urls, sizes_expected, args.machines) for _ in range(max(2, args.rounds - 1))]
        finally:
            stack.stop()

    checkpoint(report)
    scale = 20000 if args.quick else 100000
    print(f"serving during refreshes of {scale} entries ...", flush=True)
    report["refreshing"] = serving_during_refresh(work, files, id_of["4k.rts.png"], c_binary, scale, args)
    checkpoint(report)
    print("scan ...", flush=True)
    report["scan"] = scan_benchmarks(work, [1000, 10000] if args.quick else [1000, 10000, 100000], args.rounds)
    checkpoint(report)
    print("cold refresh ...", flush=True)
    report["cold_refresh"] = cold_refresh_benchmark(work, files, c_binary, 10000, max(5, args.rounds))
    checkpoint(report)
    print("kernel and initrd by TFTP and HTTP ...", flush=True)
    report["tftp"] = tftp.compare(work, os.path.join(files, "vmlinuz"), 8 << 20 if args.quick else 40 << 20, 1 if args.quick else 3)
    checkpoint(report)
    print("decoding and preparing ...", flush=True)
    report["decode"] = decode_benchmarks(work, files, c_binary, args)
    checkpoint(report)
    if args.no_qemu:
        report["qemu"] = None
    else:
        print("real boots in QEMU ...", flush=True)
        report["qemu"] = qemu_boots(work, files, id_of["linux.rts.png"], c_binary, [1, 2] if args.quick else [1, 4, 8], 1 if args.quick else 2)
        checkpoint(report)
        print("real-network boot storm ...", flush=True)
        report["real_network"] = real_network.storm(work, BIN, os.path.join(files, "linux.rts.png"), [1, 2] if args.quick else [1, 4, 8],
                                                    1 if args.quick else 2)
    shutil.rmtree(work, ignore_errors=True)
    write_report(report, args)


def checkpoint(report):
    """What was measured so far, in case a later phase fails (bench/results/partial.json)."""
    with open(os.path.join(RESULTS, "partial.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)


def boot_state(stack, entry_id):
    try:
        with urllib.request.urlopen(stack.url("worker", "/containers"), timeout=10) as response:
            items = json.load(response)["containers"]
        return next((item["boot"]["state"] for item in items if item["id"] == entry_id), None)
    except OSError:
        return None


def boot_storm(stack, part_urls, part_sizes, machines):
    """`machines` curl processes started together, each fetching what a booting machine does:
    boot.ipxe, menu.ipxe, then the kernel and the initrd."""
    urls = [stack.url("worker", "/pxe/boot.ipxe"), stack.url("worker", "/pxe/menu.ipxe")] + part_urls
    started = time.time()
    processes = [subprocess.Popen(["curl", "-s", "--max-time", "300", "-w", "%{http_code} %{size_download}\\n"]
                                  + sum((["-o", "/dev/null", url] for url in urls), []),
                                  stdout=subprocess.PIPE, text=True) for _ in range(machines)]
    durations, errors, total = [], 0, 0
    for process in processes:
        out, _ = process.communicate()
        durations.append(time.time() - started)
        lines = out.split()
        codes = lines[0::2]
        sizes = [int(s) for s in lines[1::2]]
        total += sum(sizes)
        if process.returncode != 0 or codes != ["200"] * len(urls) or sizes[2:] != part_sizes:
            errors += 1
    elapsed = time.time() - started
    durations.sort()
    return {"p50": durations[len(durations) // 2], "p95": durations[int(len(durations) * 0.95) - 1], "max": durations[-1],
            "throughput": total / elapsed, "errors": errors}


def start_stack_with_catalog(work, name, tree, entries, files, c_binary):
    """A started Stack serving the containers in `files` plus generated ones in `tree`: `entries` in all."""
    containers = sum(1 for name in os.listdir(files) if name.endswith(".rts.png"))
    run([BIN, "generate-catalog", tree, str(entries - containers)])
    stack_dir = os.path.join(work, name)
    os.makedirs(stack_dir)
    stack = Stack(stack_dir, [files, tree], files, c_binary)
    stack.start()
    return stack


def serving_during_refresh(work, files, id_4k, c_binary, count, args):
    """A worker holding `count` generated entries: its RSS, and GET /containers/{id} while idle
    vs. while refreshes of the whole catalog run back to back (interleaved), with the refreshes'
    own durations. The refreshes compete for the same two cores, so some slowdown is physics;
    what must not happen is a stall or an error while a snapshot is built and swapped."""
    tree = os.path.join(work, f"serve-{count}")
    stack = start_stack_with_catalog(work, f"stack-refresh-{count}", tree, count, files, c_binary)
    try:
        stack.wait_quiet()
        pid = stack.worker.pid
        idle_rss = rss_bytes(pid)
        peak = [idle_rss]
        durations, refresh_errors = [], [0]

        def refresh_loop(stop):
            while not stop.is_set():
                started = time.time()
                request = urllib.request.Request(stack.url("worker", "/catalog/refresh"), method="POST", data=b"")
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        response.read()
                    durations.append(time.time() - started)
                except OSError:
                    refresh_errors[0] += 1
                peak[0] = max(peak[0], rss_bytes(pid))

        def measure(mode):
            stop = threading.Event()
            thread = threading.Thread(target=refresh_loop, args=(stop,)) if mode == "refreshing" else None
            if thread:
                thread.start()
            result = wrk(stack.url("worker", f"/containers/{id_4k}"), 64, args.seconds)
            stop.set()
            if thread:
                thread.join()
            return result

        results = interleave({"idle": "idle", "refreshing": "refreshing"}, args.rounds, measure)
        return {"entries": count, "idle_rss": idle_rss, "peak_rss": peak[0], "runs": results,
                "refreshes": len(durations), "refresh_seconds": median(durations), "refresh_errors": refresh_errors[0]}
    finally:
        stack.stop()
        shutil.rmtree(tree, ignore_errors=True)


def decode_benchmarks(work, files, c_binary, args):
    """The payload decoder against its floor (inflating the same IDAT bytes alone), SHA-256
    against sha256sum on the same file, and a worker preparing a large container: its RSS above
    idle, and the boot menu's req/s while it prepares against idle."""
    payload_mib = 128 if args.quick else 1024
    scratch = os.path.join(work, "decode")
    os.makedirs(scratch)
    payload = os.path.join(scratch, "payload.img")
    with open(payload, "wb") as f:
        for _ in range(payload_mib):
            f.write(os.urandom(1 << 20))
    container = os.path.join(scratch, "large.rts.png")
    started = time.time()
    run([BIN, "pack", container, "--disk", payload, "--name", "Large"])
    pack_seconds = time.time() - started
    floor_binary = os.path.join(work, "inflate-floor")
    run(["cc", "-O2", "-o", floor_binary, os.path.join(REPO, "bench/inflate-floor.c"), "-lz"])
    run([floor_binary, container])   # into the page cache
    rounds = max(2, args.rounds - 2)

    def measure(kind):
        if kind == "floor":
            return json.loads(run([floor_binary, container]).stdout)["seconds"]
        if kind == "decode":
            return json.loads(run([BIN, "bench-decode", container, "--scratch", scratch]).stdout)["seconds"]
        if kind == "sha256sum":
            started = time.time()
            run(["sha256sum", payload])
            return time.time() - started
        return json.loads(run([BIN, "bench-hash", payload]).stdout)["seconds"]

    times = interleave({"floor": "floor", "decode": "decode", "sha256sum": "sha256sum", "ours": "ours"}, rounds, measure)
    decoded = json.loads(run([BIN, "bench-decode", container, "--scratch", scratch]).stdout)

    # A worker preparing copies of the large container (each a different file, so each is decoded).
    catalog = os.path.join(scratch, "catalog")
    os.makedirs(catalog)
    stack_dir = os.path.join(work, "stack-prepare")
    os.makedirs(stack_dir)
    stack = Stack(stack_dir, [catalog], files, c_binary)
    stack.start()
    prepare = {"idle_rss": 0, "peak_rss": 0, "seconds": [], "menu": {"idle": [], "preparing": []}}
    try:
        pid = stack.worker.pid
        prepare["idle_rss"] = rss_bytes(pid)
        for index in range(rounds):
            prepare["menu"]["idle"].append(wrk(stack.url("worker", "/pxe/menu.ipxe"), 64, args.seconds))
            copy = os.path.join(catalog, f"large-{index}.rts.png")
            run([BIN, "pack", copy + ".tmp", "--disk", payload, "--name", f"Large {index}"])
            os.rename(copy + ".tmp", copy)
            started = time.time()
            urllib.request.urlopen(urllib.request.Request(stack.url("worker", "/catalog/refresh"), method="POST", data=b""), timeout=60).read()
            peak = [0]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_bytes(pid))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            result = wrk(stack.url("worker", "/pxe/menu.ipxe"), 64, args.seconds)
            entry = json.loads(run([BIN, "scan", catalog]).stdout)["containers"][-1]["id"]
            still_preparing = boot_state(stack, entry) in ("pending", "preparing")
            assert wait_for(lambda: boot_state(stack, entry) == "ready", 600), "the large container was not prepared"
            stop.set()
            sampler.join()
            prepare["seconds"].append(time.time() - started)
            prepare["peak_rss"] = max(prepare["peak_rss"], peak[0])
            result["still_preparing"] = still_preparing
            prepare["menu"]["preparing"].append(result)
            os.remove(copy)
            urllib.request.urlopen(urllib.request.Request(stack.url("worker", "/catalog/refresh"), method="POST", data=b""), timeout=60).read()
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return {"payload_mib": payload_mib, "pack_seconds": pack_seconds, "times": times, "decoder_max_rss": decoded["max_rss_bytes"],
            "prepare": prepare}


def qemu_boots(work, files, linux_id, c_binary, counts, rounds):
    """Seconds from QEMU's start to the initramfs's marker line for 1, 4, 8 machines at once,
    booting the Linux entry through the worker (its entry script, kernel and initrd from the boot
    cache) and the same kernel and initrd served by nginx directly with a hand-written script.
    The guests see only a forwarded address (QEMU's restricted user network), as try-boot does."""
    if not os.path.exists("/usr/bin/qemu-system-x86_64"):
        return None
    with open(os.path.join(files, "direct.ipxe"), "w") as f:
        f.write("#!ipxe\nkernel vmlinuz initrd=initrd console=ttyS0 panic=-1 no_timer_check pxe_name=direct\n"
                "initrd --name initrd initrd.img\nboot\n")
    stack_dir = os.path.join(work, "stack-qemu")
    os.makedirs(stack_dir)
    stack = Stack(stack_dir, [files], files, c_binary)
    stack.start()
    try:
        assert wait_for(lambda: boot_state(stack, linux_id) == "ready", 120)
        variants = {"direct": (stack.ports["static"], "/static/direct.ipxe"), "worker": (stack.ports["worker"], f"/pxe/{linux_id}/boot.ipxe")}
        results = {}
        for count in counts:
            results[count] = interleave(variants, rounds, lambda variant: boot_machines(work, variant[0], variant[1], count))
        return results
    finally:
        stack.stop()


def boot_machines(work, port, path, count):
    """Starts `count` machines at once; returns the seconds until the last printed its marker
    (None if one did not within the time limit)."""
    forwarder = f"{BIN} forward 127.0.0.1 {port}"
    machines = []
    started = time.time()
    for index in range(count):
        serial = os.path.join(work, f"serial-{port}-{index}-{time.time_ns()}.log")
        qemu = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc,graphics=off", "-m", "256", "-display", "none", "-monitor", "none",
                                 "-serial", f"file:{serial}", "-boot", "n", "-no-reboot",
                                 "-netdev", f"user,id=n0,restrict=on,bootfile=http://10.0.2.100{path},guestfwd=tcp:10.0.2.100:80-cmd:{forwarder}",
                                 "-device", f"e1000,netdev=n0,mac=52:54:00:00:{port % 256:02x}:{index:02x}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        machines.append((qemu, serial))
    done = {}
    deadline = started + 600
    while len(done) < count and time.time() < deadline:
        for index, (qemu, serial) in enumerate(machines):
            if index in done:
                continue
            try:
                with open(serial, "rb") as f:
                    if b"PXE-CATALOG-BOOTED" in f.read():
                        done[index] = time.time() - started
            except OSError:
                pass
        time.sleep(0.1)
    for qemu, serial in machines:
        if qemu.poll() is None:
            qemu.terminate()
        try:
            qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            qemu.kill()
        os.remove(serial) if os.path.exists(serial) else None
    return max(done.values()) if len(done) == count else None


def scan_benchmarks(work, counts, rounds):
    results = {}
    for count in counts:
        tree = os.path.join(work, f"scan-{count}")
        print(f"  generating {count} containers ...", flush=True)
        run([BIN, "generate-catalog", tree, str(count), "3", "300"])
        floors, colds, refreshes, rss = [], [], [], []
        for _ in range(rounds):
            started = time.time()
            subprocess.run(["find", tree, "-printf", "%s %T@\\n"], stdout=subprocess.DEVNULL, check=True)
            floors.append(time.time() - started)
            measured = json.loads(run([BIN, "bench-scan", tree]).stdout)
            colds.append(measured["cold_scan_seconds"])
            refreshes.append(measured["no_change_refresh_seconds"])
            rss.append(measured["rss_bytes"])
        results[count] = {"floor": median(floors), "cold": median(colds), "refresh": median(refreshes), "rss": median(rss)}
        shutil.rmtree(tree, ignore_errors=True)
    return results


def cold_refresh_benchmark(work, files, c_binary, count, rounds):
    """A running worker (SQLite settings, watcher off) whose catalog gains `count` new, settled
    files at once: POST /catalog/refresh until it answers (scan, default settings committed to the
    store with an audit record each, published) against `find -printf` over the same tree, in the
    same round. Each round starts a fresh worker with an empty catalog and state."""
    source = os.path.join(work, f"cold-source-{count}")
    run([BIN, "generate-catalog", source, str(count)])
    finds, refreshes = [], []
    for round_index in range(rounds):
        stack_dir = os.path.join(work, f"stack-cold-{round_index}")
        root = os.path.join(stack_dir, "catalog")
        os.makedirs(root)
        stack = Stack(stack_dir, [root], files, c_binary)
        stack.start()
        try:
            shutil.copytree(source, os.path.join(root, "new"))
            settled = time.time() - 3600
            for directory, _, names in os.walk(root):
                for name in names:
                    os.utime(os.path.join(directory, name), (settled, settled))
            subprocess.run(["sync"], check=False)
            # The same files, both ways, in alternating order: the page cache is warm for both.
            def find():
                started = time.time()
                subprocess.run(["find", root, "-printf", "%s %T@\\n"], stdout=subprocess.DEVNULL, check=True)
                finds.append(time.time() - started)
            if round_index % 2:
                find()
            started = time.time()
            with urllib.request.urlopen(urllib.request.Request(stack.url("worker", "/catalog/refresh"), method="POST", data=b""), timeout=300) as response:
                added = json.load(response)["added"]
            refreshes.append(time.time() - started)
            assert added == count, f"the refresh added {added} of {count} entries"
            if not round_index % 2:
                find()
        finally:
            stack.stop()
            shutil.rmtree(stack_dir, ignore_errors=True)
    shutil.rmtree(source, ignore_errors=True)
    return {"count": count, "find": finds, "refresh": refreshes}


def write_report(report, args):
    api = report["api"]
    first = min(api)
    base = {name: median([r["rps"] for r in runs]) for name, runs in api[first].items()}
    c_json, c_xaccel = base["C responder JSON"], base["C responder X-Accel"]
    title = f"# pxe-catalog benchmarks, {report['date']}" + (" (--quick smoke run: small sizes)" if args.quick else "")
    lines = [title, "", f"Machine: {report['machine']}.", "",
             f"wrk -t2 -c64, {args.seconds} s per run, {args.rounds} interleaved rounds, medians. "
             "Ratios compare with the ceiling measured in the same sitting. The C responder sits behind the same "
             "generated nginx site as the worker (internal location with disable_symlinks, admin restriction, buffers) "
             "and sends the worker's download headers, so the two differ only in the FastCGI process.", "",
             "## API (req/s, p99 latency)", "",
             "| request | entries | req/s | p99 ms | ratio | baseline | errors |", "|---|---|---|---|---|---|---|"]
    chart = []
    for size, targets in api.items():
        for name, runs in targets.items():
            rps = median([r["rps"] for r in runs])
            p99 = median([r["p99"] for r in runs]) * 1000
            errors = sum(r["errors"] for r in runs)
            if name.startswith("nginx") or name.startswith("C responder"):
                ratio, baseline = "", "(ceiling)"
            elif name == "GET /containers/{id}":
                ratio, baseline = f"{rps / c_xaccel:.2f}", "C X-Accel"
            else:
                ratio, baseline = f"{rps / c_json:.2f}", "C JSON"
            lines.append(f"| {name} | {size} | {rps:,.0f} | {p99:.2f} | {ratio} | {baseline} | {errors} |")
            if ratio:
                targeted = name in ("GET /containers/{id}", "GET /pxe/menu.ipxe") and size == first
                chart.append((f"{name.replace('GET ', '')} ({size})", float(ratio), 0.9 if targeted else None))
    lines += ["", "Targets: GET /containers/{id} and GET /pxe/menu.ipxe at least 0.9 of the C responder.", "",
              "## Downloads of a large container (X-Accel-Redirect vs nginx directly)", "",
              "| clients | direct GB/s | X-Accel GB/s | ratio (target 0.95) |", "|---|---|---|---|"]
    for clients, runs in report["downloads"].items():
        direct = median([r["bytes_per_s"] for r in runs["direct"]]) / 1e9
        xaccel = median([r["bytes_per_s"] for r in runs["X-Accel"]]) / 1e9
        lines.append(f"| {clients} | {direct:.2f} | {xaccel:.2f} | {xaccel / direct:.2f} |")
        chart.append((f"download x{clients}", xaccel / direct, 0.95))
    storm = report["storm"]
    lines += ["", "## Kernel and initrd downloads (X-Accel-Redirect into the boot cache vs nginx directly, 16 clients)", "",
              "| part | direct GB/s | C responder X-Accel GB/s | worker X-Accel GB/s | ratio (target 0.95) | worker / C responder |",
              "|---|---|---|---|---|---|"]
    for part, runs in report["part_downloads"].items():
        direct = median([r["bytes_per_s"] for r in runs["direct"]]) / 1e9
        xaccel = median([r["bytes_per_s"] for r in runs["X-Accel"]]) / 1e9
        floor = median([r["bytes_per_s"] for r in runs.get("C X-Accel", [])]) / 1e9
        lines.append(f"| {part} | {direct:.2f} | {floor:.2f} | {xaccel:.2f} | {xaccel / direct:.2f} | {xaccel / floor:.2f} |")
        chart.append((f"{part} download", xaccel / direct, 0.95))
    lines += ["", "Each download is one request through the FastCGI hop; the smaller the file, the larger the hop's share "
              "of the CPU on two loaded cores (nginx, wrk and the responder share them). The C responder's column "
              "is what a minimal libfcgi responder reaches through the same hop (it closes each connection the way "
              "libfcgi does, waiting for nginx to close first; the worker closes its unix socket at once)."]
    lines += ["", f"## Boot storm: {args.machines} machines fetch boot.ipxe, menu.ipxe, kernel and initrd together", "",
              "| container via | p50 s | p95 s | max s | GB/s | errors |", "|---|---|---|---|---|---|"]
    for label, runs in storm.items():
        lines.append(f"| {label} | {median([r['p50'] for r in runs]):.2f} | {median([r['p95'] for r in runs]):.2f} | "
                     f"{median([r['max'] for r in runs]):.2f} | {median([r['throughput'] for r in runs]) / 1e9:.2f} | {sum(r['errors'] for r in runs)} |")
    storm_ratio = median([r["throughput"] for r in storm["X-Accel"]]) / median([r["throughput"] for r in storm["direct"]])
    lines += ["", f"Throughput ratio X-Accel / direct: {storm_ratio:.2f} (target 0.9, 0 errors)."]
    chart.append(("boot storm", storm_ratio, 0.9))
    lines += ["", "## Worker memory (RSS)", "", "| entries | idle MB | of which anonymous MB | under load MB |", "|---|---|---|---|"]
    for size, memory in report["memory"].items():
        lines.append(f"| {size} | {memory['idle'] / 2**20:.1f} | {memory.get('idle_anon', 0) / 2**20:.1f} | {memory['load'] / 2**20:.1f} |")
    lines += ["", "Target: under 20 MB idle with 10 entries. The rest of RSS is file-backed: the static binary's and the "
              "libraries' pages. The worker unmaps the code it ran while starting once it is idle (`ProcessTuning.releaseCodePages`: "
              "the kernel maps 64 KiB around each page of code it faults in, and start-up runs scattered code); the pages "
              "stay in the page cache and map back on use."]
    refreshing = report["refreshing"]
    idle = median([r["rps"] for r in refreshing["runs"]["idle"]])
    busy = median([r["rps"] for r in refreshing["runs"]["refreshing"]])
    lines += ["", f"## Serving while the catalog of {refreshing['entries']:,} entries is refreshed back to back", "",
              "| GET /containers/{id} | req/s | p99 ms | errors |", "|---|---|---|---|"]
    for mode, runs in refreshing["runs"].items():
        lines.append(f"| {mode} | {median([r['rps'] for r in runs]):,.0f} | {median([r['p99'] for r in runs]) * 1000:.2f} | "
                     f"{sum(r['errors'] for r in runs)} |")
    lines += ["", f"Ratio refreshing / idle: {busy / idle:.2f}; {refreshing['refreshes']} refreshes of "
              f"{refreshing['refresh_seconds']:.2f} s (median), {refreshing['refresh_errors']} failed. "
              f"Worker RSS with {refreshing['entries']:,} entries: {refreshing['idle_rss'] / 2**20:.0f} MB idle, "
              f"{refreshing['peak_rss'] / 2**20:.0f} MB peak while refreshing (target: well under 100 MB)."]
    chart.append((f"serving during refresh ({refreshing['entries'] // 1000}k)", busy / idle, None))
    lines += ["", "## Scan (3 sparse 300 MB containers among small ones; files in the page cache)", "",
              "| containers | find -printf s | cold scan s | ratio (target 5x at 10k) | no-change refresh s | ratio (target 2x) | RSS MB |",
              "|---|---|---|---|---|---|---|"]
    for count, scan in report["scan"].items():
        lines.append(f"| {count:,} | {scan['floor']:.3f} | {scan['cold']:.3f} | {scan['cold'] / scan['floor']:.1f}x | "
                     f"{scan['refresh']:.3f} | {scan['refresh'] / scan['floor']:.1f}x | {scan['rss'] / 2**20:.0f} |")
    cold = report["cold_refresh"]
    find_s, refresh_s = median(cold["find"]), median(cold["refresh"])
    ratios = [r / f for r, f in zip(cold["refresh"], cold["find"])]
    lines += ["", f"## Cold refresh: {cold['count']:,} new files appear in a running worker's catalog (SQLite settings, watcher off)", "",
              "| find -printf s | POST /catalog/refresh s | ratio (target 5x) | ratios of the rounds |", "|---|---|---|---|",
              f"| {find_s:.3f} | {refresh_s:.3f} | {median(ratios):.1f}x | {', '.join(f'{r:.1f}' for r in ratios)} |",
              "", "The refresh reads every new file's metadata (find only stats them), gives each new entry its default settings "
              "and an audit record in one SQLite transaction, and publishes the catalog; each round is a fresh worker, "
              "find and the refresh alternate in order."]
    chart.append(("cold refresh 10k: find / refresh x5", 5 * find_s / refresh_s, 1.0))
    if report.get("tftp"):
        lines += ["", "## Kernel and initrd by TFTP (what shim + GRUB machines fetch under Secure Boot) and by HTTP", "",
                  tftp.markdown(report["tftp"]), "",
                  "dnsmasq's TFTP and nginx over one network namespace's loopback, the same files, medians of interleaved rounds. "
                  "TFTP waits for each block's acknowledgement: a real network's round trip adds (size / block size) round trips. "
                  "Debian's signed GRUB asks for 1024-byte blocks and no window (and may load no module under Secure Boot)."]
    decode = report["decode"]
    times = decode["times"]
    floor, decoded = median(times["floor"]), median(times["decode"])
    shasum, ours = median(times["sha256sum"]), median(times["ours"])
    mib = decode["payload_mib"]
    prepare = decode["prepare"]
    menu_idle = median([r["rps"] for r in prepare["menu"]["idle"]])
    menu_busy = median([r["rps"] for r in prepare["menu"]["preparing"]])
    lines += ["", f"## Opening containers ({mib} MiB payload of random bytes, packed by `pxe-catalog pack`; files in the page cache)", "",
              "| measure | seconds | MB/s | ratio | target |", "|---|---|---|---|---|",
              f"| inflate the IDAT alone (C, zlib; the floor) | {floor:.2f} | {mib * 1.048576 / floor:.0f} | | |",
              f"| decode + verify (image, curve, SHA-256, payload written) | {decoded:.2f} | {mib * 1.048576 / decoded:.0f} | {floor / decoded:.2f} of the floor | 0.5 |",
              f"| sha256sum | {shasum:.2f} | {mib * 1.048576 / shasum:.0f} | | |",
              f"| SHA-256 through libcrypto (the decoder's) | {ours:.2f} | {mib * 1.048576 / ours:.0f} | {shasum / ours:.2f} of sha256sum | 0.9 |",
              "", "The ceiling of this ratio: SHA-256 is sequential, and the Hilbert curve completes only a third of the "
              "payload's prefix before the image's last rows (1/4 + 1/16 + ... : the curve's lower quadrants, recursively, "
              "all reach the bottom row), so two thirds of the hashing must follow the last inflated row. Even a decoder "
              "whose image thread only inflated, with everything else hidden on a second core, would take "
              f"floor + 2/3 x SHA-256 = {floor + 2 / 3 * ours:.2f} s: at most about {floor / (floor + 2 / 3 * ours):.2f} of the floor here.",
              "", f"Packing took {decode['pack_seconds']:.1f} s. The decoder's peak RSS (a process of its own): "
              f"{decode['decoder_max_rss'] / 2**20:.0f} MB. A worker preparing copies of the container (each decoded and verified): "
              f"{median(prepare['seconds']):.1f} s each, RSS {prepare['idle_rss'] / 2**20:.0f} MB idle, "
              f"{prepare['peak_rss'] / 2**20:.0f} MB peak: +{(prepare['peak_rss'] - prepare['idle_rss']) / 2**20:.0f} MB (target: at most 64 MB).",
              "", f"GET /pxe/menu.ipxe while a container is prepared: {menu_busy:,.0f} req/s against {menu_idle:,.0f} idle, "
              f"ratio {menu_busy / menu_idle:.2f} (target 0.7); still preparing at the end of each run: "
              f"{sum(1 for r in prepare['menu']['preparing'] if r['still_preparing'])} of {len(prepare['menu']['preparing'])}."]
    chart += [("decode vs inflate floor", floor / decoded, 0.5), ("SHA-256 vs sha256sum", shasum / ours, 0.9),
              ("menu while preparing", menu_busy / menu_idle, 0.7)]
    qemu = report.get("qemu")
    if qemu:
        lines += ["", "## Real boots in QEMU (software emulation): seconds from start to the initramfs's marker, all machines", "",
                  "| machines at once | nginx directly s | through the worker s | ratio direct/worker (target 0.95) |", "|---|---|---|---|"]
        for count, runs in qemu.items():
            direct = [t for t in runs["direct"] if t is not None]
            worker = [t for t in runs["worker"] if t is not None]
            if direct and worker:
                ratio = median(direct) / median(worker)
                lines.append(f"| {count} | {median(direct):.1f} | {median(worker):.1f} | {ratio:.2f} |")
                chart.append((f"QEMU boot x{count}", ratio, 0.95))
            else:
                lines.append(f"| {count} | {len(direct)} of {len(runs['direct'])} booted | {len(worker)} of {len(runs['worker'])} booted | |")
    real = report.get("real_network")
    if real:
        lines += ["", "## Real network: UEFI machines through real DHCP, TFTP and HTTP vs QEMU's user network", "",
                  "OVMF with a virtio-net NIC and no option ROM on a bridge in a network namespace (the firmware's own PXE, "
                  "dnsmasq in server mode as `pxe-catalog dnsmasq-config` makes it, snponly.efi by TFTP, then boot.ipxe and "
                  "the menu over HTTP) against the same machines on QEMU's user network (iPXE's EFI ROM given boot.ipxe's URL "
                  "by QEMU's DHCP), the same worker and nginx, interleaved rounds. Boots per minute: machines / seconds until the "
                  "last printed the initramfs's marker.", "",
                  "| machines at once | real boots/min | user-network boots/min | ratio real/user (target 0.9) | "
                  "power-on to the kernel's first line, real s (median, max) | the same, user network s |", "|---|---|---|---|---|---|"]

        def boots_per_minute(rounds):
            rates = [len(machines) * 60 / max(m["marker"] for m in machines) for machines in rounds
                     if all(m["marker"] is not None for m in machines)]
            return median(rates) if rates else None

        def first_line(rounds):
            times = [m["banner"] for machines in rounds for m in machines if m["banner"] is not None]
            return f"{median(times):.1f}, {max(times):.1f}" if times else "none"

        for count, runs in real.items():
            real_rate, user_rate = boots_per_minute(runs["real"]), boots_per_minute(runs["user"])
            if real_rate and user_rate:
                lines.append(f"| {count} | {real_rate:.1f} | {user_rate:.1f} | {real_rate / user_rate:.2f} | "
                             f"{first_line(runs['real'])} | {first_line(runs['user'])} |")
                chart.append((f"real network x{count}", real_rate / user_rate, 0.9))
            else:
                booted = {variant: sum(1 for machines in runs[variant] for m in machines if m["marker"] is not None) for variant in runs}
                total = {variant: sum(len(machines) for machines in runs[variant]) for variant in runs}
                lines.append(f"| {count} | {booted['real']} of {total['real']} booted | {booted['user']} of {total['user']} booted | | | |")
    lines += ["", "Reproduce: `make bench` (about thirty minutes; `BENCH_ARGS=--quick` for a smoke run, `--no-qemu` without the boots).", ""]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
    with open(os.path.join(RESULTS, f"{stamp}.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    text = "\n".join(lines)
    for name in (f"{stamp}.md", "latest.md"):
        with open(os.path.join(RESULTS, name), "w") as f:
            f.write(text)
    write_chart(chart, os.path.join(RESULTS, "latest.png"))
    subprocess.run([sys.executable, os.path.join(REPO, "bench/update_readme.py")], check=False)
    print(text)


def write_chart(bars, path):
    """A horizontal bar chart of the ratios with their targets, drawn by gnuplot."""
    if not shutil.which("gnuplot"):
        print("gnuplot not found; no chart", file=sys.stderr)
        return
    data = path + ".dat"
    with open(data, "w") as f:
        for index, (label, ratio, target) in enumerate(bars):
            f.write(f'{index} "{label}" {ratio:.3f} {target if target else "NaN"}\n')
    script = f"""
set terminal pngcairo size 1000,{120 + 32 * len(bars)} font "sans,10"
set output "{path}"
set title "pxe-catalog: ratio to the ceiling measured in the same run (1.0 = as fast as the baseline)"
set style fill solid 0.8
set yrange [-0.8:{len(bars) - 0.2}]
set xrange [0:1.3]
set ytics ()
set grid x
set key bottom right
plot "{data}" using (0.5*$3):1:(0.5*$3):(0.35):ytic(2) with boxxyerror lc rgb "#3a7bd5" title "measured ratio", \\
     "{data}" using 4:1 with points pt 7 ps 1.2 lc rgb "#d9534f" title "target"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.remove(data)


if __name__ == "__main__":
    main()
