"""Where the load goes: a running cluster named by URL, a cluster started for the run, a peer
(the same estimator served by another architecture, see :mod:`bench.peers`), or the echo
server (to measure the generator itself).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx

from bench.cluster_setup import free_port, prepare_tenants
from bench.harness.options import normalise_url
from bench.peers import PEERS, remove_dir
from coordinator.cli import BLAS_THREAD_VARIABLES
from coordinator.launcher import LocalCluster, LocalClusterSpec


class TargetError(Exception):
    """The target is unusable: a bad URL, unreachable, or a cluster that did not start."""


@dataclass(frozen=True)
class Endpoint:
    """A plain-HTTP base URL and the API key to use there; ``seeded`` when the target already
    holds the benchmark history (a peer trains on it when it starts)."""

    url: str
    key: str
    description: str
    seeded: bool = False
    #: Further base URLs of the same service (more coordinators); load is spread over all.
    more_urls: tuple[str, ...] = ()
    #: Keys of further tenants; load is spread over all tenants.
    more_keys: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        """The API key of each tenant the load goes to."""
        return [self.key, *self.more_keys]

    @property
    def host(self) -> str:
        """The host part of the URL."""
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        """The port of the URL (80 when absent)."""
        return urlsplit(self.url).port or 80

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """``(host, port)`` of the URL and of each further one."""
        parts = [urlsplit(u) for u in (self.url, *self.more_urls)]
        return [(p.hostname or "127.0.0.1", p.port or 80) for p in parts]


def parse_url(url: str) -> str:
    """A normalised ``http://host:port`` base URL; raises :class:`TargetError` when unusable."""
    try:
        return normalise_url(url)
    except ValueError as e:
        raise TargetError(str(e)) from e


#: An item no one has: reading it needs a key with the read scope and costs one lookup.
KEY_CHECK_PATH = "/v1/items/reckon-bench-key-check"


def check_reachable(endpoint: Endpoint, timeout: float = 5.0,
                    scopes: tuple[str, ...] = ("read",)) -> None:
    """Ask ``/health``, then check the key where the server asks for one (``/v1/cluster``
    answers without a key): a read of an item that does not exist (404 with a good key), and
    for the ``write`` scope a write the server refuses unread (415: a media type it does not
    take). Raise :class:`TargetError` when unreachable or when the key is refused or lacks
    one of ``scopes``."""
    auth = {"Authorization": f"Bearer {endpoint.key}"}
    try:
        r = httpx.get(endpoint.url + "/health", timeout=timeout)
        if r.status_code != 200:
            raise TargetError(f"{endpoint.url}/health answered HTTP {r.status_code}")
        checks = [("read", httpx.get(endpoint.url + KEY_CHECK_PATH, timeout=timeout,
                                     headers=auth))]
        if "write" in scopes:
            checks.append(("write", httpx.post(
                endpoint.url + "/v1/items", content=b"-", timeout=timeout,
                headers={**auth, "Content-Type": "application/x-reckon-bench-key-check"})))
    except httpx.HTTPError as e:
        raise TargetError(f"{endpoint.url} is unreachable: {e or type(e).__name__}") from e
    for scope, r in checks:
        if r.status_code == 401:
            raise TargetError(f"{endpoint.url} refused the API key (HTTP 401)")
        if r.status_code == 403 and scope in scopes:
            raise TargetError(f"{endpoint.url}: the API key lacks the {scope!r} scope this "
                              "scenario needs (HTTP 403)")


def live_nodes(endpoint: Endpoint, timeout: float = 5.0) -> int | None:
    """How many live nodes the cluster reports, or None when it does not say."""
    try:
        r = httpx.get(endpoint.url + "/v1/cluster", timeout=timeout,
                      headers={"Authorization": f"Bearer {endpoint.key}"})
        return int(r.json()["live_nodes"]) if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def started_cluster(admin_url: str, nodes: int, workdir: Path, timeout: float = 120.0,
                    coordinators: int = 1, tenants: int = 1) -> Iterator[Endpoint]:
    """``coordinators`` coordinators and ``nodes`` node processes on loopback (R = min(2,
    N)), a fresh database with ``tenants`` tenants and a key each. Everything is stopped on
    exit, also on error."""
    names = ["bench"] + [f"bench-{i}" for i in range(2, tenants + 1)]
    try:
        url, keys = asyncio.run(prepare_tenants(admin_url, names))
    except (OSError, ValueError) as e:
        raise TargetError(f"could not prepare a database: {e}") from e
    spec = LocalClusterSpec(
        database_url=url, secret=secrets.token_hex(16), workdir=workdir,
        http_port=free_port(), coordinator_nng_port=free_port(),
        node_ports=[free_port() for _ in range(nodes)], replication=min(2, nodes),
        extra_env={"RECKON_LOG_LEVEL": "warning"},
        more_coordinators=[(free_port(), free_port()) for _ in range(coordinators - 1)],
    )
    cluster = LocalCluster(spec)
    try:
        try:
            cluster.start(timeout=timeout)
        except (RuntimeError, TimeoutError) as e:
            raise TargetError(f"the {nodes}-node cluster did not start: {e}") from e
        spread = f", load spread over {tenants} tenants" if tenants > 1 else ""
        yield Endpoint(cluster.url, keys[0],
                       f"local cluster: {_count(coordinators, 'coordinator')}, {nodes} node(s), "
                       f"R={min(2, nodes)}, on loopback{spread}",
                       more_urls=tuple(cluster.url_of(i) for i in range(1, coordinators)),
                       more_keys=tuple(keys[1:]))
    finally:
        cluster.stop()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, ``grace`` seconds to exit, then SIGKILL; finally SIGKILL whatever is left of
    the process group the server was started in (its own session)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(log: IO[bytes]) -> str:
    log.seek(0)
    lines = [x for x in log.read().decode(errors="replace").splitlines() if x.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


@contextmanager
def server_process(argv: list[str], ready: Callable[[], bool], what: str, timeout: float,
                   grace: float = 5.0, env: dict[str, str] | None = None
                   ) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server as a subprocess in its own session (so a Ctrl-C reaches only the
    harness, which then stops it), its output to a temporary log, until ``ready()`` answers
    True; yield it, and stop it on exit, also on error or interrupt. Raises
    :class:`TargetError` when it exits or is not ready within ``timeout`` seconds."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if proc.poll() is not None:
                    raise TargetError(f"{what} exited with status {proc.returncode} while "
                                      f"starting: {_last_line(log)}")
                if time.monotonic() > deadline:
                    raise TargetError(f"{what} was not ready within {timeout:g} s: "
                                      f"{_last_line(log)}")
                time.sleep(0.2)
            yield proc
        finally:
            _stop(proc, grace)


def _answers(method: str, url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.request(method, url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return ready


def _peer_env(key: str) -> dict[str, str]:
    """A peer's environment: its key, and one BLAS thread as reckon's own processes have
    (see :func:`coordinator.cli.one_blas_thread`) unless the environment says otherwise."""
    env = {"RECKON_PEER_KEY": key}
    for name in BLAS_THREAD_VARIABLES:
        env[name] = os.environ.get(name, "1")
    return env


@contextmanager
def started_peer(name: str, workers: int = 1) -> Iterator[Endpoint]:
    """A peer from :data:`bench.peers.PEERS` on a free loopback port with a fresh key,
    trained on the benchmark history; stopped on exit, also on error or interrupt (a Ray
    peer shuts its Ray instance down). Raises :class:`TargetError` when a package it needs
    is missing or it does not start."""
    peer = PEERS[name]
    if peer.missing():
        raise TargetError(f"--peer {name} needs {', '.join(peer.missing())}: "
                          "install the peers extra: pip install '.[peers]'")
    port, key = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    # Short (it may hold unix sockets), and removed here even when the peer is killed.
    scratch = tempfile.mkdtemp(prefix=f"rk{name}") if peer.scratch_flag else None
    try:
        with server_process(peer.argv(sys.executable, port, workers, scratch),
                            _answers("GET", url + "/health"), f"the {peer.label} peer",
                            peer.start_timeout, grace=60.0, env=_peer_env(key)):
            yield Endpoint(url, key, peer.describe(workers), seeded=True)
    finally:
        if scratch is not None:
            remove_dir(scratch)



@contextmanager
def started_echo_server(timeout: float = 10.0) -> Iterator[Endpoint]:
    """The echo server in its own process on a free loopback port."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.harness.echo_server", "--port", str(port)]
    with server_process(argv, _answers("POST", f"http://127.0.0.1:{port}/"), "the echo server",
                        timeout):
        yield Endpoint(f"http://127.0.0.1:{port}", "", "echo server (answers {} at once), "
                                                      "its own process")
