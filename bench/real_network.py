"""A real-network boot storm (run by bench/run.py): UEFI machines on a bridge in a network
namespace of the bench's own, through real DHCP, TFTP and HTTP (the firmware's own PXE, dnsmasq
configured by `pxe-catalog dnsmasq-config`, snponly.efi, then the menu), against the same
machines through QEMU's user-mode network (iPXE's EFI ROM handed the boot script's URL), in the
same sitting and against the same worker and nginx. Nothing leaves the namespace; every process
is stopped by PID and the namespace removed."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

MARKER = b"PXE-CATALOG-BOOTED"
BANNER = b"Linux version "


def ip(*arguments):
    subprocess.run(["ip", *arguments], check=True, capture_output=True)


class Lab:
    def __init__(self, work, binary, catalog):
        self.work = work
        self.binary = binary
        self.namespace = f"pxe-bench-{os.getpid()}"
        self.bridge = "pxebench0"
        self.processes = []
        self.taps = 0
        ip("netns", "add", self.namespace)
        try:
            self.start_services(catalog)
        except BaseException:
            self.stop()
            raise

    def start_services(self, catalog):
        work, binary = self.work, self.binary
        ip("-n", self.namespace, "link", "set", "lo", "up")
        ip("-n", self.namespace, "link", "add", self.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        ip("-n", self.namespace, "addr", "add", "10.77.0.1/24", "dev", self.bridge)
        ip("-n", self.namespace, "-6", "addr", "add", "fd77::1/64", "dev", self.bridge, "nodad")
        ip("-n", self.namespace, "link", "set", self.bridge, "up")
        prefix = os.path.join(work, "nginx")
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        config = {
            "worker": {"socket": os.path.join(work, "worker.sock"), "socket_mode": "0666"},
            "catalog": {"roots": [catalog], "watch": False, "rescan_interval": 0, "analyzer": []},
            "state": {"directory": os.path.join(work, "state")},
            "admin": {"allow_unauthenticated": True},
            "nginx": {"listen": "80"},
            "menu": {"default": "first", "timeout": 1},
            "log": {"level": "warning"},
            "dhcp": {"mode": "server", "interface": self.bridge, "range": "10.77.0.100-10.77.0.199", "router_advertisements": True,
                     "user": "root", "log_file": os.path.join(work, "dnsmasq.log"), "tftp_root": os.path.join(work, "tftp")},
        }
        self.config = os.path.join(work, "config.json")
        with open(self.config, "w") as f:
            json.dump(config, f)
        site = subprocess.run([binary, "nginx-config", "--config", self.config, "--standalone", prefix], check=True, capture_output=True, text=True).stdout
        site = site.replace(f'access_log "{prefix}/access.log";', "access_log off;")
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(site)
        self.start([binary, "serve", "--config", self.config], "worker.log")
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(work, "worker.sock")) and time.time() < deadline:
            time.sleep(0.05)
        self.start(["nginx", "-p", prefix, "-c", os.path.join(prefix, "nginx.conf")], "nginx.out")
        subprocess.run([binary, "tftp-root", "--config", self.config], check=True, capture_output=True)
        self.run_in([binary, "dnsmasq-config", "--config", self.config, "--output", os.path.join(work, "dnsmasq.conf")])
        self.start(["dnsmasq", "--keep-in-foreground", f"--conf-file={os.path.join(work, 'dnsmasq.conf')}", "--pid-file="], "dnsmasq.out")

    def run_in(self, argv):
        subprocess.run(["ip", "netns", "exec", self.namespace, *argv], check=True, capture_output=True)

    def start(self, argv, log):
        process = subprocess.Popen(["ip", "netns", "exec", self.namespace, *argv],
                                   stdout=open(os.path.join(self.work, log), "a"), stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def get(self, path):
        result = subprocess.run(["ip", "netns", "exec", self.namespace, "curl", "-s", "--max-time", "5", f"http://127.0.0.1{path}"],
                                capture_output=True, text=True)
        return result.stdout

    def tap(self):
        name = f"pxebt{self.taps}"
        self.taps += 1
        ip("-n", self.namespace, "tuntap", "add", "dev", name, "mode", "tap")
        ip("-n", self.namespace, "link", "set", name, "master", self.bridge, "up")
        return name

    def boot(self, count, real):
        """`count` UEFI machines at once; per machine, seconds to the kernel's first line and to
        the initramfs's marker (None when it did not come up within the limit)."""
        machines = []
        started = time.time()
        for index in range(count):
            serial = os.path.join(self.work, f"serial-{int(real)}-{index}-{time.time_ns()}.log")
            variables = serial + ".vars.fd"
            shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", variables)
            mac = f"52:54:00:78:{int(real):02x}:{index:02x}"
            argv = ["qemu-system-x86_64", "-machine", "q35", "-m", "256", "-display", "none", "-monitor", "none",
                    "-serial", f"file:{serial}", "-no-reboot",
                    "-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                    "-drive", f"if=pflash,format=raw,file={variables}"]
            if real:
                argv += ["-netdev", f"tap,id=n0,ifname={self.tap()},script=no,downscript=no",
                         "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile="]
            else:
                # QEMU's user network, as try-boot uses it: only a forwarded address reaches nginx.
                forwarder = f"{self.binary} forward 127.0.0.1 80"
                argv += ["-netdev", f"user,id=n0,restrict=on,bootfile=http://10.0.2.100/pxe/boot.ipxe,guestfwd=tcp:10.0.2.100:80-cmd:{forwarder}",
                         "-device", f"e1000,netdev=n0,mac={mac},romfile=/usr/lib/ipxe/qemu/efi-e1000.rom"]
            qemu = subprocess.Popen(["ip", "netns", "exec", self.namespace, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            machines.append((qemu, serial, variables))
        banner, marker = {}, {}
        deadline = started + 600
        while len(marker) < count and time.time() < deadline:
            for index, (_, serial, _) in enumerate(machines):
                if index in marker:
                    continue
                try:
                    with open(serial, "rb") as f:
                        text = f.read()
                except OSError:
                    continue
                if index not in banner and BANNER in text:
                    banner[index] = time.time() - started
                if MARKER in text:
                    marker[index] = time.time() - started
            time.sleep(0.1)
        for qemu, serial, variables in machines:
            if qemu.poll() is None:
                qemu.terminate()
            try:
                qemu.wait(timeout=10)
            except subprocess.TimeoutExpired:
                qemu.kill()
            for path in (serial, variables):
                if os.path.exists(path):
                    os.remove(path)
        return [{"banner": banner.get(i), "marker": marker.get(i)} for i in range(count)]

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["ip", "netns", "del", self.namespace], check=False)


def storm(work, binary, linux_container, counts, rounds):
    """Per machine count: rounds of real and user-network boots, interleaved."""
    if not (os.path.exists("/usr/bin/qemu-system-x86_64") and os.path.exists("/usr/sbin/dnsmasq") and os.geteuid() == 0):
        return None
    catalog = os.path.join(work, "real-network-catalog")
    os.makedirs(catalog, exist_ok=True)
    shutil.copy(linux_container, os.path.join(catalog, "linux.rts.png"))
    lab_directory = os.path.join(work, "real-network")
    os.makedirs(lab_directory, exist_ok=True)
    lab = Lab(lab_directory, binary, catalog)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and ":entry1" not in lab.get("/pxe/menu.ipxe"):
            time.sleep(0.2)
        results = {}
        for count in counts:
            runs = {"real": [], "user": []}
            for round_index in range(rounds):
                for variant in (("real", "user") if round_index % 2 == 0 else ("user", "real")):
                    runs[variant].append(lab.boot(count, variant == "real"))
            results[count] = runs
        return results
    finally:
        lab.stop()
