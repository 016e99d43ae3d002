#!/usr/bin/env python3
"""Settings-store benchmarks (run by `make bench`, or alone: `python3 bench/settings.py`).

Sequential admin writes (toggles) per second at several catalog sizes, per settings backend:
each write is acknowledged only once it is durable, so this is the store's commit rate as a
client sees it through nginx. With `--backend postgresql` a PostgreSQL server is started under
a temporary directory (initdb/pg_ctl as an unprivileged user, unix socket only), and the fleet
measurements run too: how long a change made on one node takes to show on two others, and the
boot menu's req/s against the SQLite backend (the boot path never touches the database).

Prints a JSON object and, with --markdown FILE, writes a Markdown table. Loopback only.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402
from run import can_connect, free_port, machine_description, run, wait_for, wrk  # noqa: E402

BIN = common.BIN

TOKEN = "bench-admin-token-0123456789abcdef"


class Node:
    """One worker behind its own nginx, on a generated catalog."""

    def __init__(self, work, name, catalog, state_config):
        self.work = os.path.join(work, name)
        os.makedirs(os.path.join(self.work, "nginx/tmp"))
        self.port = free_port()
        token_file = os.path.join(self.work, "tokens")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)
        config = {
            "worker": {"socket": os.path.join(self.work, "worker.sock"), "socket_mode": "0666"},
            # No analyzer: OCR in the background is not what these numbers are about.
            "catalog": {"roots": [catalog], "watch": False, "rescan_interval": 0, "analyzer": []},
            "state": dict({"directory": os.path.join(self.work, "state")}, **state_config),
            "admin": {"token_file": token_file},
            "nginx": {"listen": f"127.0.0.1:{self.port}"},
            "log": {"level": "warning"},
        }
        self.config_path = os.path.join(self.work, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        prefix = os.path.join(self.work, "nginx")
        site = run([BIN, "nginx-config", "--config", self.config_path, "--standalone", prefix]).stdout
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(site.replace(f'access_log "{prefix}/access.log";', "access_log off;"))
        self.prefix = prefix
        self.processes = []

    def start(self):
        log = open(os.path.join(self.work, "worker.log"), "a")
        self.worker = subprocess.Popen([BIN, "serve", "--config", self.config_path], stderr=log)
        self.processes.append(self.worker)
        assert wait_for(lambda: os.path.exists(os.path.join(self.work, "worker.sock")), 120), "the worker did not start"
        nginx = subprocess.Popen(["nginx", "-p", self.prefix, "-c", os.path.join(self.prefix, "nginx.conf")], stderr=subprocess.DEVNULL)
        self.processes.append(nginx)
        assert wait_for(lambda: can_connect(self.port)), "nginx did not start"

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT if process.args[0] == "nginx" else signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def wait_quiet(self):
        common.wait_until_quiet(self.worker.pid, lambda: self.get_json("/status")["boot"]["pending"])

    def get_json(self, path, connection=None):
        conn = connection or self.connection()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body[:200])
        return json.loads(body)


def entry_ids(node):
    return [item["id"] for item in node.get_json("/containers")["containers"]]


def toggles_per_second(node, ids, seconds, seed=1):
    """Sequential toggles on one keep-alive connection for about `seconds`; each one waits for
    the previous one's acknowledgement (which comes after the change is durable)."""
    rng = random.Random(seed)
    conn = node.connection()
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        body = json.dumps({"enabled": rng.random() < 0.5})
        started = time.perf_counter()
        conn.request("POST", f"/pxe/{rng.choice(ids)}/toggle", body=body,
                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {"toggles_per_s": len(latencies) / sum(latencies), "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "count": len(latencies)}


class PostgreSQL:
    """A throwaway PostgreSQL cluster: initdb and pg_ctl as `nobody`, a unix socket in `directory`."""

    def __init__(self, directory):
        self.directory = directory
        self.bin = sorted(p for p in (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")))[-1]
        os.makedirs(directory, exist_ok=True)
        shutil.chown(directory, "nobody", "nogroup")
        self.data = os.path.join(directory, "data")

    def as_nobody(self, *argv):
        return run(["runuser", "-u", "nobody", "--", *argv])

    def start(self):
        if not os.path.exists(self.data):
            self.as_nobody(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "pxe", "--auth=trust", "-E", "UTF8")
        self.as_nobody(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.directory, "log"), "-w", "-o",
                       f"-k {self.directory} -c listen_addresses='' -c fsync=on", "start")

    def stop(self):
        self.as_nobody(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")

    @property
    def url(self):
        return f"host={self.directory} user=pxe dbname=postgres"


def propagation(nodes, ids, samples):
    """Seconds from a toggle's acknowledgement on node 1 until nodes 2 and 3 show it in /pxe."""
    delays = []
    writer = nodes[0].connection()
    readers = [node.connection() for node in nodes[1:]]
    for index in range(samples):
        entry = ids[index % len(ids)]
        enabled = index % 2 == 0
        writer.request("POST", f"/pxe/{entry}/toggle", body=json.dumps({"enabled": enabled}),
                       headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = writer.getresponse()
        response.read()
        assert response.status == 200
        acknowledged = time.perf_counter()
        for node, conn in zip(nodes[1:], readers):
            while (entry in {item["id"] for item in node.get_json("/pxe", conn)["pxe_containers"]}) != enabled:
                if time.perf_counter() - acknowledged > 10:
                    raise AssertionError(f"{entry} did not propagate within 10 s")
                time.sleep(0.002)
        delays.append(time.perf_counter() - acknowledged)
    delays.sort()
    return {"p50_ms": delays[len(delays) // 2] * 1000, "p99_ms": delays[int(len(delays) * 0.99)] * 1000, "samples": len(delays)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", help="the settings backend: sqlite, postgresql, or json (before 1.1)")
    parser.add_argument("--sizes", default="1000,20000,100000", help="catalog sizes (comma-separated)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of toggles per size")
    parser.add_argument("--propagation-samples", type=int, default=200)
    parser.add_argument("--markdown", help="also write the results as Markdown here")
    parser.add_argument("--binary", help="the pxe-catalog binary (default: .build/release/pxe-catalog); an older one measures its store")
    args = parser.parse_args()
    global BIN
    if args.binary:
        BIN = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="pxe-catalog-bench-settings-")
    os.chmod(work, 0o755)
    results = {"machine": machine_description(), "backend": args.backend, "toggles": {}}
    database = None
    try:
        state_config = {} if args.backend in ("json", "sqlite") else {"backend": "postgresql"}
        if args.backend == "postgresql":
            database = PostgreSQL(os.path.join(work, "postgresql"))
            database.start()
        for size in [int(s) for s in args.sizes.split(",")]:
            catalog = os.path.join(work, f"catalog-{size}")
            run([BIN, "generate-catalog", catalog, str(size)])
            if database:
                state_config["postgresql_url"] = database.url
                run(["runuser", "-u", "nobody", "--", os.path.join(database.bin, "psql"), "-h", database.directory, "-U", "pxe",
                     "-d", "postgres", "-q", "-c", "DROP SCHEMA IF EXISTS pxe_catalog CASCADE"])
            node = Node(work, f"node-{size}", catalog, state_config)
            node.start()
            try:
                started = time.monotonic()
                node.wait_quiet()
                # A fresh catalog: boot parts and thumbnails of every entry, then idle.
                settled = time.monotonic() - started
                ids = entry_ids(node)
                assert len(ids) == size, (len(ids), size)
                results["toggles"][size] = dict(toggles_per_second(node, ids, args.seconds), settled_after_s=settled)
                print(f"{args.backend} {size}: {results['toggles'][size]}", file=sys.stderr)
            finally:
                node.stop()
        if database:
            catalog = os.path.join(work, "catalog-fleet")
            run([BIN, "generate-catalog", catalog, "1000"])
            nodes = [Node(work, f"fleet-{i}", catalog, state_config) for i in range(3)]
            for node in nodes:
                node.start()
            try:
                for node in nodes:
                    node.wait_quiet()
                ids = entry_ids(nodes[0])
                results["propagation"] = propagation(nodes, ids, args.propagation_samples)
                menu = {"postgresql": nodes[0].port}
                sqlite_node = Node(work, "menu-sqlite", catalog, {})
                sqlite_node.start()
                menu["sqlite"] = sqlite_node.port
                for node in nodes + [sqlite_node]:
                    node.wait_quiet()
                try:
                    rounds = {name: [] for name in menu}
                    for round_number in range(4):
                        # Each backend goes first in half the rounds.
                        for name, port in (list(menu.items()) if round_number % 2 == 0 else list(menu.items())[::-1]):
                            rounds[name].append(wrk(f"http://127.0.0.1:{port}/pxe/menu.ipxe", 32, 4)["rps"])
                    medians = {name: statistics.median(values) for name, values in rounds.items()}
                    results["menu_rps"] = dict(medians, ratio=medians["postgresql"] / medians["sqlite"])
                finally:
                    sqlite_node.stop()
            finally:
                for node in nodes:
                    node.stop()
    finally:
        if database:
            database.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if args.markdown:
        lines = [f"### Settings writes, {args.backend} backend", "", f"Machine: {results['machine']}", "",
                 "| entries | toggles/s (sequential) | p50 | p99 | worker idle after its start |", "|---:|---:|---:|---:|---:|"]
        for size, row in results["toggles"].items():
            lines.append(f"| {size:,} | {row['toggles_per_s']:.0f} | {row['p50_ms']:.2f} ms | {row['p99_ms']:.2f} ms | {row['settled_after_s']:.0f} s |")
        if "propagation" in results:
            p = results["propagation"]
            lines += ["", f"Propagation node 1 -> nodes 2 and 3 ({p['samples']} toggles): p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms.",
                      f"/pxe/menu.ipxe req/s: PostgreSQL {results['menu_rps']['postgresql']:.0f}, SQLite {results['menu_rps']['sqlite']:.0f} "
                      f"(ratio {results['menu_rps']['ratio']:.2f})."]
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
