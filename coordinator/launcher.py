"""Start a coordinator and N node processes on this machine (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: The highest TCP port number.
MAX_PORT = 65535


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now (never for a number outside
    1..65535).

    As the servers do, it sets SO_REUSEADDR: a socket of an earlier run still in TIME_WAIT
    does not block reuse.
    """
    if not 1 <= port <= MAX_PORT:
        return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class LocalClusterSpec:
    """What to start: all processes on loopback."""

    database_url: str
    secret: str
    workdir: Path
    http_port: int
    coordinator_nng_port: int
    node_ports: list[int]
    replication: int = 1
    heartbeat_timeout: float = 2.0
    hedge_delay: float = 0.1
    extra_env: dict[str, str] = field(default_factory=dict)
    # The coordinator's command after the interpreter (benchmarks swap in a variant).
    coordinator_command: tuple[str, ...] = ("-m", "coordinator.cli", "coordinator")
    # Further coordinators as (http port, nng port); every node heartbeats to all of them.
    more_coordinators: list[tuple[int, int]] = field(default_factory=list)

    def coordinator_ports(self) -> list[tuple[int, int]]:
        """(http port, nng port) of every coordinator, the first one first."""
        return [(self.http_port, self.coordinator_nng_port), *self.more_coordinators]


class LocalCluster:
    """Real processes: ``reckon coordinator`` and ``reckon node`` children, logs in ``workdir``."""

    def __init__(self, spec: LocalClusterSpec) -> None:
        self.spec = spec
        self.coordinators: list[subprocess.Popen[bytes] | None] = [None] * len(
            spec.coordinator_ports())
        self.nodes: list[subprocess.Popen[bytes] | None] = [None] * len(spec.node_ports)
        spec.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def coordinator(self) -> subprocess.Popen[bytes] | None:
        """The first coordinator's process."""
        return self.coordinators[0]

    @property
    def url(self) -> str:
        """The first coordinator's HTTP base URL."""
        return self.url_of(0)

    def url_of(self, i: int) -> str:
        """Coordinator ``i``'s HTTP base URL."""
        return f"http://127.0.0.1:{self.spec.coordinator_ports()[i][0]}"

    @property
    def coordinator_addresses(self) -> list[str]:
        """Every coordinator's nng inbox."""
        return [f"tcp://127.0.0.1:{nng}" for _, nng in self.spec.coordinator_ports()]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["RECKON_CLUSTER_SECRET"] = self.spec.secret
        env["RECKON_DATABASE_URL"] = self.spec.database_url
        env.update(self.spec.extra_env)
        return env

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.spec.workdir / log_name, "ab")  # the child owns it
        return subprocess.Popen(
            [sys.executable, *command],
            env=self._env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_coordinator(self, i: int = 0) -> None:
        """Start (or restart) coordinator ``i``."""
        s = self.spec
        http, _ = s.coordinator_ports()[i]
        self.coordinators[i] = self._spawn([
            *s.coordinator_command, "--http", f"127.0.0.1:{http}", "--listen",
            self.coordinator_addresses[i], "--replication", str(s.replication),
            "--heartbeat-timeout", str(s.heartbeat_timeout), "--hedge-delay", str(s.hedge_delay),
            "--coordinator-id", f"coord-{i + 1}",
        ], "coordinator.log" if i == 0 else f"coordinator-{i + 1}.log")

    def start_node(self, i: int) -> None:
        """Start (or restart) node ``i``."""
        port = self.spec.node_ports[i]
        coordinators = [arg for a in self.coordinator_addresses for arg in ("--coordinator", a)]
        self.nodes[i] = self._spawn([
            "-m", "coordinator.cli", "node", "--listen", f"tcp://127.0.0.1:{port}",
            *coordinators, "--node-id", f"node-{i}",
        ], f"node-{i}.log")

    def start(self, timeout: float = 60.0) -> None:
        """Start everything and wait until every node has joined every coordinator."""
        for c in range(len(self.coordinators)):
            self.start_coordinator(c)
        for i in range(len(self.nodes)):
            self.start_node(i)
        for c in range(len(self.coordinators)):
            self.wait_ready(len(self.nodes), timeout, coordinator=c)

    def wait_ready(self, nodes: int, timeout: float = 60.0, coordinator: int = 0) -> None:
        """Wait until a coordinator answers and sees ``nodes`` live nodes."""
        deadline = time.monotonic() + timeout
        last = ""
        proc = self.coordinators[coordinator]
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"coordinator {coordinator + 1} exited with {proc.returncode};"
                                   f" see its log in {self.spec.workdir}")
            try:
                r = httpx.get(self.url_of(coordinator) + "/v1/cluster", timeout=2)
                if r.status_code == 200 and r.json()["live_nodes"] >= nodes:
                    return
                last = r.text
            except httpx.HTTPError as e:
                last = str(e)
            time.sleep(0.2)
        raise TimeoutError(f"cluster not ready after {timeout}s: {last}")

    def kill_node(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send a signal to node ``i`` and wait for it to exit."""
        proc = self.nodes[i]
        if proc is not None:
            proc.send_signal(sig)
            proc.wait(timeout=30)
            self.nodes[i] = None

    def kill_coordinator(self, sig: int = signal.SIGKILL, i: int = 0) -> None:
        """Send a signal to coordinator ``i`` and wait for it to exit."""
        proc = self.coordinators[i]
        if proc is not None:
            proc.send_signal(sig)
            proc.wait(timeout=30)
            self.coordinators[i] = None

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop: SIGTERM to every process at once (nodes leave and drain, the
        coordinator finishes its requests), then SIGKILL for those still running after
        ``timeout`` seconds."""
        procs = [p for p in self.nodes if p is not None]
        procs += [p for p in self.coordinators if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.nodes = [None] * len(self.nodes)
        self.coordinators = [None] * len(self.coordinators)
