"""Where the load goes: a running cluster named by URL, a cluster started for the run, or the
echo server (to measure the generator itself).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.cluster_setup import free_port, prepare_database
from coordinator.launcher import LocalCluster, LocalClusterSpec


class TargetError(Exception):
    """The target is unusable: a bad URL, unreachable, or a cluster that did not start."""


@dataclass(frozen=True)
class Endpoint:
    """A plain-HTTP base URL and the API key to use there."""

    url: str
    key: str
    description: str

    @property
    def host(self) -> str:
        """The host part of the URL."""
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        """The port of the URL (80 when absent)."""
        return urlsplit(self.url).port or 80


def parse_url(url: str) -> str:
    """A normalised ``http://host:port`` base URL; raises :class:`TargetError` when unusable."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise TargetError(f"{url!r}: only plain http:// URLs are supported (the load "
                          "generator speaks HTTP/1.1 without TLS)")
    if not parts.hostname:
        raise TargetError(f"{url!r}: no host in the URL")
    try:
        port = parts.port or 80
    except ValueError as e:
        raise TargetError(f"{url!r}: bad port") from e
    return f"http://{parts.hostname}:{port}"


def check_reachable(endpoint: Endpoint, timeout: float = 5.0) -> None:
    """Ask ``/health`` and check the key on ``/v1/cluster``; raise :class:`TargetError` if not."""
    try:
        r = httpx.get(endpoint.url + "/health", timeout=timeout)
        if r.status_code != 200:
            raise TargetError(f"{endpoint.url}/health answered HTTP {r.status_code}")
        r = httpx.get(endpoint.url + "/v1/cluster", timeout=timeout,
                      headers={"Authorization": f"Bearer {endpoint.key}"})
    except httpx.HTTPError as e:
        raise TargetError(f"{endpoint.url} is unreachable: {e or type(e).__name__}") from e
    if r.status_code in (401, 403):
        raise TargetError(f"{endpoint.url} refused the API key (HTTP {r.status_code})")


def live_nodes(endpoint: Endpoint, timeout: float = 5.0) -> int | None:
    """How many live nodes the cluster reports, or None when it does not say."""
    try:
        r = httpx.get(endpoint.url + "/v1/cluster", timeout=timeout,
                      headers={"Authorization": f"Bearer {endpoint.key}"})
        return int(r.json()["live_nodes"]) if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def started_cluster(admin_url: str, nodes: int, workdir: Path,
                    timeout: float = 120.0) -> Iterator[Endpoint]:
    """A coordinator and ``nodes`` node processes on loopback (R = min(2, N)), a fresh
    database, tenant and key. Everything is stopped on exit, also on error."""
    try:
        url, key = asyncio.run(prepare_database(admin_url))
    except (OSError, ValueError) as e:
        raise TargetError(f"could not prepare a database: {e}") from e
    spec = LocalClusterSpec(
        database_url=url, secret=secrets.token_hex(16), workdir=workdir,
        http_port=free_port(), coordinator_nng_port=free_port(),
        node_ports=[free_port() for _ in range(nodes)], replication=min(2, nodes),
        extra_env={"RECKON_LOG_LEVEL": "warning"},
    )
    cluster = LocalCluster(spec)
    try:
        try:
            cluster.start(timeout=timeout)
        except (RuntimeError, TimeoutError) as e:
            raise TargetError(f"the {nodes}-node cluster did not start: {e}") from e
        yield Endpoint(cluster.url, key, f"local cluster: 1 coordinator, {nodes} node(s), "
                                         f"R={min(2, nodes)}, on loopback")
    finally:
        cluster.stop()


@contextmanager
def started_echo_server(timeout: float = 10.0) -> Iterator[Endpoint]:
    """The echo server in its own process on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.harness.echo_server", "--port",
                             str(port)], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/", timeout=1.0)
                break
            except httpx.HTTPError as e:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise TargetError(f"the echo server did not start: {e}") from e
                time.sleep(0.1)
        yield Endpoint(f"http://127.0.0.1:{port}", "", "echo server (answers {} at once), "
                                                      "its own process")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
