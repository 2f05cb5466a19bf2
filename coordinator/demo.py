"""``reckon demo``: the whole system on this machine, with a demo tenant ready to query.

Starts an embedded PostgreSQL (data under ``.reckon/``) unless ``RECKON_DATABASE_URL`` names
one, a coordinator and N node processes, creates the ``demo`` tenant with a history imported
from a public data set, and prints the URL and an API key. Ctrl-C stops everything; the next
run reuses the data and the key.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from importlib import resources
from pathlib import Path

import anyio
import httpx

from coordinator.embedded_pg import EmbeddedPostgres, environ_database_url
from coordinator.launcher import MAX_PORT, LocalCluster, LocalClusterSpec, port_is_free
from coordinator.store import create_pool
from coordinator.store.migrate import migrate
from coordinator.store.tenants import create_api_key, create_tenant, lookup_key

DEMO_TENANT = "demo"
#: The coordinator's nng port is --port + NNG_OFFSET; node i listens on the next ports.
NNG_OFFSET = 1000


def demo_ports(port: int, nodes: int) -> list[int]:
    """The coordinator's HTTP and nng ports, then each node's."""
    return [port, port + NNG_OFFSET] + [port + NNG_OFFSET + 1 + i for i in range(nodes)]


def argument_problem(port: int, nodes: int) -> str | None:
    """What is wrong with --port and --nodes (one line), or None."""
    if nodes < 1:
        return "--nodes must be at least 1"
    if not 1 <= port <= MAX_PORT:
        return f"--port must be between 1 and {MAX_PORT}, not {port}"
    highest = MAX_PORT - NNG_OFFSET - nodes  # the highest --port that leaves room
    if highest < 1:
        return f"--nodes {nodes} is too many: each needs a port above --port + {NNG_OFFSET}"
    if port > highest:
        return (f"--port {port} with --nodes {nodes} needs ports up to {port + MAX_PORT - highest}"
                f" (the nng ports are --port + {NNG_OFFSET} and up); use --port {highest} or lower")
    return None


def _read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


async def _prepare_tenant(url: str, saved_key: str) -> tuple[str, bool]:
    """Migrate, make sure the demo tenant exists and a key works; return (key, empty)."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            await create_tenant(conn, DEMO_TENANT, "Demo tenant")
            key = saved_key
            if not key or await lookup_key(conn, key) is None:
                key = await create_api_key(conn, DEMO_TENANT, label="demo")
            count = await conn.fetchval("SELECT count(*) FROM items WHERE tenant_id = $1",
                                        DEMO_TENANT)
        return key, count == 0
    finally:
        await pool.close()


def _demo_csv() -> bytes:
    return resources.files("coordinator.demo_data").joinpath("desharnais.csv").read_bytes()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``reckon demo``."""
    p = argparse.ArgumentParser(prog="reckon demo", description=__doc__)
    p.add_argument("--port", type=int, default=8080, help="HTTP port of the coordinator")
    p.add_argument("--nodes", type=int, default=2, help="node processes to start")
    p.add_argument("--data-dir", default=".reckon", help="where data, logs and the key live")
    args = p.parse_args(argv)
    problem = argument_problem(args.port, args.nodes)
    if problem:
        print(f"reckon demo: {problem}", file=sys.stderr)
        return 2
    workdir = Path(args.data_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    ports = demo_ports(args.port, args.nodes)
    busy = [port for port in ports if not port_is_free(port)]
    if busy:
        why = "in use" if min(busy) >= 1024 else "in use, or need root (below 1024)"
        print(f"reckon demo: port(s) {busy} are {why}; pick another --port", file=sys.stderr)
        return 1

    pg: EmbeddedPostgres | None = None
    url = environ_database_url()
    if url is None:
        print(f"starting embedded PostgreSQL in {workdir / 'pgdata'} ...", file=sys.stderr)
        pg = EmbeddedPostgres(workdir / "pgdata")
        url = pg.start()
    cluster: LocalCluster | None = None
    # A plain flag: a threading.Event set from a signal handler can deadlock when the
    # signal lands while the main thread holds the Event's lock (in its own wait()).
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    try:
        key_file = workdir / "demo-api-key"
        saved = key_file.read_text().strip() if key_file.exists() else ""
        key, empty = anyio.run(_prepare_tenant, url, saved)
        if key != saved:
            key_file.write_text(key + "\n")
            key_file.chmod(0o600)
        spec = LocalClusterSpec(
            database_url=url,
            secret=_read_or_create_secret(workdir / "cluster-secret"),
            workdir=workdir / "logs",
            http_port=ports[0],
            coordinator_nng_port=ports[1],
            node_ports=ports[2:],
            replication=min(2, args.nodes),
        )
        cluster = LocalCluster(spec)
        print(f"starting coordinator and {args.nodes} node(s) (logs in {spec.workdir}) ...",
              file=sys.stderr)
        cluster.start(timeout=120)
        if empty:
            r = httpx.post(cluster.url + "/v1/items", content=_demo_csv(), timeout=60,
                           headers={"Authorization": f"Bearer {key}",
                                    "Content-Type": "text/csv",
                                    "Idempotency-Key": "demo-import-desharnais"})
            r.raise_for_status()
            print(f"imported {r.json()['imported']} demo projects (Desharnais data set)",
                  file=sys.stderr)
        print(f"""
reckon is running at {cluster.url}
demo API key: {key}   (also in {workdir / 'demo-api-key'})

try:
  curl -s {cluster.url}/v1/estimates -H 'Authorization: Bearer {key}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"title": "Billing system rewrite",
            "features": {{"Transactions": 200, "Entities": 80, "Language": "basic"}}}}'

Ctrl-C stops everything.""", flush=True)
        while not stopping:
            time.sleep(0.2)
            if cluster.coordinator is None or cluster.coordinator.poll() is not None:
                print("reckon demo: the coordinator exited; stopping", file=sys.stderr)
                return 1
        print("\nstopping ...", file=sys.stderr)
        return 0
    except (httpx.HTTPError, TimeoutError, RuntimeError, OSError) as e:
        print(f"reckon demo: {e}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        if pg is not None:
            pg.stop()
        os.environ.pop("RECKON_CLUSTER_SECRET", None)
