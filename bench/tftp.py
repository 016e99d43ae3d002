#!/usr/bin/env python3
"""Kernel and initrd by TFTP (dnsmasq, the block sizes shim, GRUB and OVMF ask for) against the
same files by HTTP (nginx, sendfile), in the same sitting, inside a network namespace of its own
over its loopback: what a Secure Boot machine (shim + GRUB, everything by TFTP) waits for compared
with an iPXE one. Run by bench/run.py; alone: `python3 bench/tftp.py [--rounds N]` (root).

TFTP sends one block and waits for its acknowledgement (dnsmasq and these clients use no window
option), so its rate is the block size over one round trip: loopback is the best case, and each
millisecond of a real network's round trip adds (size / block size) milliseconds.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK_SIZES = [512, 1024, 1468]   # shim's, GRUB's, OVMF's PXE


def compare(work, kernel, initrd_bytes=40 << 20, rounds=3):
    """Seconds to fetch the kernel and an initrd of `initrd_bytes` by TFTP at each block size and
    by HTTP; medians of `rounds`, interleaved."""
    root = os.path.join(work, "tftp-bench")
    os.makedirs(root, exist_ok=True)
    # nginx's workers (not root) read the files.
    for directory in (work, root):
        os.chmod(directory, 0o755)
    shutil.copy(kernel, os.path.join(root, "kernel"))
    with open(os.path.join(root, "initrd"), "wb") as f:
        f.write(os.urandom(initrd_bytes))
    for name in ("kernel", "initrd"):
        os.chmod(os.path.join(root, name), 0o644)
    sizes = {name: os.path.getsize(os.path.join(root, name)) for name in ("kernel", "initrd")}
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "3600"])
    processes = []
    try:
        namespace = ["nsenter", "-t", str(holder.pid), "-n", "--"]
        deadline = time.time() + 10
        while subprocess.run(namespace + ["ip", "link", "set", "lo", "up"], capture_output=True).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("the benchmark's network namespace did not come up")
            time.sleep(0.05)
        processes.append(subprocess.Popen(namespace + [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--enable-tftp", f"--tftp-root={root}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root", "--pid-file=", "--log-facility=-"],
            stderr=subprocess.DEVNULL))
        nginx_prefix = os.path.join(work, "tftp-bench-nginx")
        os.makedirs(os.path.join(nginx_prefix, "logs"), exist_ok=True)
        with open(os.path.join(nginx_prefix, "nginx.conf"), "w") as f:
            f.write(f"""daemon off; worker_processes 1; error_log {nginx_prefix}/logs/error.log; pid {nginx_prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  server {{ listen 127.0.0.1:8080; root {root}; }} }}
""")
        processes.append(subprocess.Popen(namespace + ["nginx", "-p", nginx_prefix, "-c", os.path.join(nginx_prefix, "nginx.conf")],
                                          stderr=subprocess.DEVNULL))
        def fetch(url, extra=()):
            started = time.time()
            result = subprocess.run(namespace + ["curl", "-sS", "--max-time", "300", "-o", "/dev/null", "-w", "%{size_download}", *extra, url],
                                    capture_output=True, text=True)
            elapsed = time.time() - started
            return elapsed if result.returncode == 0 else None, int(result.stdout or 0)
        # Both servers answer before the rounds start.
        deadline = time.time() + 10
        while fetch("http://127.0.0.1:8080/kernel")[0] is None or fetch("tftp://127.0.0.1/kernel")[0] is None:
            if time.time() > deadline:
                raise RuntimeError("dnsmasq or nginx did not answer in the benchmark's namespace")
            time.sleep(0.1)
        methods = {"HTTP (nginx)": lambda name: fetch(f"http://127.0.0.1:8080/{name}")}
        for size in BLOCK_SIZES:
            methods[f"TFTP, blksize {size}"] = lambda name, size=size: fetch(f"tftp://127.0.0.1/{name}", ["--tftp-blksize", str(size)])
        times = {method: {"kernel": [], "initrd": []} for method in methods}
        for _ in range(rounds):
            for method, get in methods.items():
                for name in ("kernel", "initrd"):
                    seconds, received = get(name)
                    if seconds is None or received != sizes[name]:
                        raise RuntimeError(f"{method} did not send {name} whole ({received} of {sizes[name]} bytes)")
                    times[method][name].append(seconds)
        return {"sizes": sizes, "seconds": {method: {name: statistics.median(values) for name, values in parts.items()}
                                            for method, parts in times.items()}}
    finally:
        for process in processes + [holder]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes + [holder]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def markdown(result):
    sizes = result["sizes"]
    http = result["seconds"]["HTTP (nginx)"]
    lines = [f"| fetched by | kernel ({sizes['kernel'] / 2**20:.1f} MiB) s | initrd ({sizes['initrd'] / 2**20:.0f} MiB) s | MiB/s | time / HTTP's |",
             "|---|---|---|---|---|"]
    for method, parts in result["seconds"].items():
        total = parts["kernel"] + parts["initrd"]
        rate = (sizes["kernel"] + sizes["initrd"]) / 2**20 / total
        lines.append(f"| {method} | {parts['kernel']:.2f} | {parts['initrd']:.2f} | {rate:.0f} | {total / (http['kernel'] + http['initrd']):.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kernel = os.path.join(REPO, ".build/boot-parts/vmlinuz")
    subprocess.run([os.path.join(REPO, "deploy/dev/boot-parts.sh"), os.path.join(REPO, ".build/boot-parts")], check=True)
    work = tempfile.mkdtemp(prefix="pxe-catalog-tftp-bench.")
    try:
        print(markdown(compare(work, kernel, rounds=args.rounds)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
