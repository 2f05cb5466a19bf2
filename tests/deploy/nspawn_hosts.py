"""Real test servers on this machine: systemd-nspawn containers with systemd as PID 1.

Each host is an overlay clone of one cached Debian rootfs (built once with debootstrap and
kept under ``/var/cache/reckon-test-hosts``), booted with ``systemd-nspawn --boot`` on a
private bridge (10.77.N.0/24), reachable over SSH as root with a key made for the run. The
hosts have no route to the internet, like servers without one: everything a deployment
needs comes from the control machine (the base image stands in for the servers' own Debian
mirror).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What a freshly installed server has, plus what the playbooks install from the servers' own
# package mirror (baked in here because the test hosts have no network route out).
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "ca-certificates",
    "python3", "python3-venv", "python3-apt", "libstdc++6", "postgresql",
)
# Units a test host does not need (and that slow boot or fight with the machine's own).
MASKED_UNITS = ("console-getty.service", "systemd-timesyncd.service",
                "e2scrub_reap.service", "apt-daily.timer", "apt-daily-upgrade.timer")
DEFAULT_CACHE = Path(os.environ.get("RECKON_TEST_HOSTS_CACHE", "/var/cache/reckon-test-hosts"))


class HostsUnavailable(Exception):
    """This machine cannot boot test hosts (the message says why)."""


def unavailable_reason() -> str | None:
    """Why test hosts cannot run here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "test hosts need root (systemd-nspawn, overlay mounts, a bridge)"
    for tool in ("systemd-nspawn", "debootstrap", "ip", "ssh", "ssh-keygen", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install systemd-container debootstrap)"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no cgroup file system at /sys/fs/cgroup"
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        return "cannot read /proc/filesystems"
    if "overlay" not in filesystems:
        return "the kernel has no overlay file system"
    return None


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload, no-any-return]


def base_key() -> str:
    """Identity of the base image: changes when the suite, mirror or package set changes."""
    text = "\n".join([SUITE, MIRROR, *BASE_PACKAGES, *MASKED_UNITS, "layout-1"])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure_base(cache: Path = DEFAULT_CACHE) -> Path:
    """The cached base rootfs, built with debootstrap the first time (about a minute)."""
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / f"base-{base_key()}"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / ".complete").exists():
            return final / "rootfs"
        building = cache / f"building-{base_key()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        rootfs = building / "rootfs"
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             SUITE, str(rootfs), MIRROR],
            text=True, capture_output=True,
        )
        if proc.returncode != 0:
            raise HostsUnavailable(
                f"debootstrap failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        _prepare_base(rootfs)
        shutil.rmtree(final, ignore_errors=True)
        building.rename(final)
        (final / ".complete").write_text(base_key() + "\n")
        return final / "rootfs"


def _prepare_base(rootfs: Path) -> None:
    etc = rootfs / "etc"
    for unit in MASKED_UNITS:
        target = etc / "systemd" / "system" / unit
        target.unlink(missing_ok=True)
        target.symlink_to("/dev/null")
    # A package from the mirror is installed here, not yet running: the postgres role starts it.
    (etc / "systemd/system/multi-user.target.wants/postgresql.service").unlink(missing_ok=True)
    wants = etc / "systemd/system/multi-user.target.wants"
    networkd = wants / "systemd-networkd.service"
    networkd.unlink(missing_ok=True)
    networkd.symlink_to("/lib/systemd/system/systemd-networkd.service")
    (etc / "machine-id").write_text("")
    (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)


@dataclass
class TestHost:
    """One booted container."""

    __test__ = False  # a fixture object, not a test class

    name: str
    address: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    cgroups: list[Path] = field(default_factory=list)


class TestHosts:
    """Boot ``count`` hosts on a private bridge; :meth:`close` tears everything down.

    Use as a context manager. Hosts are named ``<prefix>1..N`` with addresses
    ``10.77.<subnet>.11..``; the controller is ``10.77.<subnet>.1``.
    """

    __test__ = False  # a fixture object, not a test class

    def __init__(self, workdir: Path, count: int, prefix: str = "rk",
                 cache: Path = DEFAULT_CACHE) -> None:
        self.workdir = workdir
        self.count = count
        self.prefix = prefix
        self.cache = cache
        self.subnet = 0
        self.bridge = ""
        self.hosts: list[TestHost] = []
        self.key = workdir / "id_ed25519"

    @property
    def controller_address(self) -> str:
        """The controller's address on the bridge."""
        return f"10.77.{self.subnet}.1"

    def __enter__(self) -> TestHosts:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, boot_timeout: float = 120.0) -> None:
        """Build or reuse the base, clone it per host, boot all hosts, wait for SSH."""
        reason = unavailable_reason()
        if reason:
            raise HostsUnavailable(reason)
        base = ensure_base(self.cache)
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)])
        self._make_bridge()
        for i in range(1, self.count + 1):
            self.hosts.append(self._clone(base, i))
        for host in self.hosts:
            self._boot(host)
        deadline = time.monotonic() + boot_timeout
        for host in self.hosts:
            self._wait_running(host, deadline)

    def _make_bridge(self) -> None:
        used = _run(["ip", "-4", "-o", "addr"]).stdout
        for n in range(10, 250):
            if f"10.77.{n}." not in used:
                self.subnet = n
                break
        else:
            raise HostsUnavailable("no free 10.77.N.0/24 subnet")
        self.bridge = f"rkbr{self.subnet}"
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.controller_address}/24", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])

    def _clone(self, base: Path, i: int) -> TestHost:
        name = f"{self.prefix}{i}"
        hdir = self.workdir / name
        for sub in ("upper", "work", "root"):
            (hdir / sub).mkdir(parents=True, exist_ok=True)
        root = hdir / "root"
        _run(["mount", "-t", "overlay", "overlay", "-o",
              f"lowerdir={base},upperdir={hdir / 'upper'},workdir={hdir / 'work'}", str(root)])
        host = TestHost(name, f"10.77.{self.subnet}.{10 + i}", root, hdir / "console.log")
        (root / "etc/hostname").write_text(name + "\n")
        (root / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"10.77.{self.subnet}.{10 + j} {self.prefix}{j}\n" for j in range(1, self.count + 1))
        (root / "etc/hosts").write_text(hosts)
        (root / "etc/systemd/network/10-host0.network").write_text(
            f"[Match]\nName=host0\n\n[Network]\nAddress={host.address}/24\n"
            f"Gateway={self.controller_address}\n")
        auth = root / "root/.ssh/authorized_keys"
        auth.write_text(self.key.with_suffix(".pub").read_text())
        auth.chmod(0o600)
        return host

    def _boot(self, host: TestHost) -> None:
        # Each container gets its own cgroup subtree so that its systemd manages only itself.
        for hierarchy in ("unified", "systemd"):
            cg = Path("/sys/fs/cgroup") / hierarchy / f"reckon-test-{self.subnet}-{host.name}"
            if cg.parent.is_dir():
                cg.mkdir(exist_ok=True)
                host.cgroups.append(cg)

        def enter_cgroups() -> None:
            for cg in host.cgroups:
                (cg / "cgroup.procs").write_text(str(os.getpid()))

        log = open(host.log, "wb")
        host.process = subprocess.Popen(
            ["systemd-nspawn", "-D", str(host.root), "--boot", f"--machine={host.name}",
             "--register=no", "--keep-unit", f"--network-bridge={self.bridge}", "-q"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=enter_cgroups,
        )
        log.close()

    def ssh_command(self, host: TestHost, command: str) -> list[str]:
        """The argv that runs ``command`` on ``host`` as root."""
        return ["ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=3", "-o", "BatchMode=yes", f"root@{host.address}", command]

    def ssh(self, host: TestHost, command: str,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command on a host; the result is returned whatever the exit status."""
        return subprocess.run(self.ssh_command(host, command), text=True, capture_output=True,
                              timeout=timeout)

    def _wait_running(self, host: TestHost, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            if host.process is not None and host.process.poll() is not None:
                raise HostsUnavailable(f"{host.name} exited during boot: "
                                       f"{host.log.read_text(errors='replace')[-2000:]}")
            try:
                r = self.ssh(host, "systemctl is-system-running --wait", timeout=30)
            except subprocess.TimeoutExpired:
                continue
            last = (r.stdout + r.stderr).strip()
            if last in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise HostsUnavailable(f"{host.name} did not boot: {last}; "
                               f"{host.log.read_text(errors='replace')[-2000:]}")

    def inventory_vars(self, host: TestHost) -> str:
        """Connection variables for an Ansible inventory line."""
        return (f"ansible_host={host.address} ansible_user=root "
                f"ansible_ssh_private_key_file={self.key} "
                "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'")

    def close(self) -> None:
        """Stop every host, unmount the clones, remove the bridge (safe to call twice)."""
        for host in self.hosts:
            proc = host.process
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for host in self.hosts:
            proc = host.process
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                host.process = None
            with contextlib.suppress(subprocess.CalledProcessError):
                _run(["umount", str(host.root)])
            for cg in host.cgroups:
                _remove_cgroup(cg)
        if self.bridge:
            with contextlib.suppress(subprocess.CalledProcessError):
                _run(["ip", "link", "del", self.bridge])
            self.bridge = ""
        self.hosts = []


def _remove_cgroup(cg: Path) -> None:
    # The container's systemd made its own cgroups below ours: remove the deepest first.
    if not cg.is_dir():
        return
    for sub in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        cg.rmdir()

