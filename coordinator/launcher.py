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


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now.

    As the servers do, it sets SO_REUSEADDR: a socket of an earlier run still in TIME_WAIT
    does not block reuse.
    """
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


class LocalCluster:
    """Real processes: ``reckon coordinator`` and ``reckon node`` children, logs in ``workdir``."""

    def __init__(self, spec: LocalClusterSpec) -> None:
        self.spec = spec
        self.coordinator: subprocess.Popen[bytes] | None = None
        self.nodes: list[subprocess.Popen[bytes] | None] = [None] * len(spec.node_ports)
        spec.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The coordinator's HTTP base URL."""
        return f"http://127.0.0.1:{self.spec.http_port}"

    @property
    def coordinator_address(self) -> str:
        """The coordinator's nng inbox."""
        return f"tcp://127.0.0.1:{self.spec.coordinator_nng_port}"

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

    def start_coordinator(self) -> None:
        """Start (or restart) the coordinator process."""
        s = self.spec
        self.coordinator = self._spawn([
            *s.coordinator_command, "--http", f"127.0.0.1:{s.http_port}", "--listen",
            self.coordinator_address, "--replication", str(s.replication),
            "--heartbeat-timeout", str(s.heartbeat_timeout), "--hedge-delay", str(s.hedge_delay),
            "--coordinator-id", "coord-1",
        ], "coordinator.log")

    def start_node(self, i: int) -> None:
        """Start (or restart) node ``i``."""
        port = self.spec.node_ports[i]
        self.nodes[i] = self._spawn([
            "-m", "coordinator.cli", "node", "--listen", f"tcp://127.0.0.1:{port}", "--coordinator",
            self.coordinator_address, "--node-id", f"node-{i}",
        ], f"node-{i}.log")

    def start(self, timeout: float = 60.0) -> None:
        """Start everything and wait until every node has joined."""
        self.start_coordinator()
        for i in range(len(self.nodes)):
            self.start_node(i)
        self.wait_ready(len(self.nodes), timeout)

    def wait_ready(self, nodes: int, timeout: float = 60.0) -> None:
        """Wait until /ready answers and ``nodes`` nodes are live."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.coordinator is not None and self.coordinator.poll() is not None:
                raise RuntimeError(f"coordinator exited with {self.coordinator.returncode}; "
                                   f"see {self.spec.workdir / 'coordinator.log'}")
            try:
                r = httpx.get(self.url + "/v1/cluster", timeout=2)
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

    def kill_coordinator(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the coordinator and wait for it to exit."""
        if self.coordinator is not None:
            self.coordinator.send_signal(sig)
            self.coordinator.wait(timeout=30)
            self.coordinator = None

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop: nodes first (SIGTERM), then the coordinator; SIGKILL stragglers."""
        procs = [p for p in self.nodes if p is not None]
        if self.coordinator is not None:
            procs.append(self.coordinator)
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
        self.coordinator = None
