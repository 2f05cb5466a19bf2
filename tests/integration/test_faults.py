"""Fault injection against real processes: what each test kills or corrupts is in its name."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pynng
import pytest

from actors.ring import rendezvous_owners
from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant, running_cluster

pytestmark = [pytest.mark.integration, pytest.mark.fault]

HISTORY = [
    {
        "id": f"h{i}",
        "title": f"task {i} {['api', 'ui', 'db'][i % 3]}",
        "features": {"size": 1 + i % 8},
        "actual": float(1 + (i % 8) * 2),
    }
    for i in range(40)
]


@pytest.fixture
def fresh_cluster(database_url: str, tmp_path: Path) -> Iterator[LocalCluster]:
    """Coordinator + 3 nodes, R=2, its own processes (the test may kill them)."""
    with running_cluster(database_url, nodes=3, replication=2, tmp=tmp_path,
                         heartbeat_timeout=1.5, hedge_delay=0.05) as cluster:
        yield cluster


def _load_tenants(cluster: LocalCluster, database_url: str, n: int) -> dict[str, str]:
    keys = {}
    for _ in range(n):
        tenant, key = make_tenant(database_url)
        r = httpx.post(
            cluster.url + "/v1/items",
            json={"items": HISTORY},
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201, r.text
        keys[tenant] = key
    # Warm every owner: one estimate per tenant.
    for key in keys.values():
        r = httpx.post(
            cluster.url + "/v1/estimates",
            json={"title": "warm"},
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200, r.text
    return keys


async def _steady_load(
    url: str, keys: list[str], seconds: float, concurrency: int, during: object = None
) -> Counter[str]:
    """Estimates round-robin over tenants for ``seconds``; count outcomes by status."""
    outcomes: Counter[str] = Counter()
    deadline = anyio.current_time() + seconds

    async def worker(w: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            i = w
            while anyio.current_time() < deadline:
                key = keys[i % len(keys)]
                i += 1
                try:
                    r = await c.post(
                        "/v1/estimates",
                        json={"title": f"load {i}"},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    outcomes[str(r.status_code)] += 1
                except httpx.HTTPError as e:
                    outcomes[type(e).__name__] += 1

    async with anyio.create_task_group() as tg:
        for w in range(concurrency):
            tg.start_soon(worker, w)
        if during is not None:
            await anyio.sleep(seconds / 3)
            await anyio.to_thread.run_sync(during)  # type: ignore[arg-type]
    return outcomes


def test_kill_9_one_node_of_three_every_tenant_still_served(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    keys = _load_tenants(fresh_cluster, database_url, 6)
    nodes = [f"node-{i}" for i in range(3)]
    # Kill the node that owns the most tenants (first owner = the one reads go to).
    firsts = Counter(rendezvous_owners(t, nodes, 2)[0] for t in keys)
    victim = int(firsts.most_common(1)[0][0].split("-")[1])

    outcomes = anyio.run(
        _steady_load,
        fresh_cluster.url,
        list(keys.values()),
        6.0,
        8,
        lambda: fresh_cluster.kill_node(victim, signal.SIGKILL),
        backend="trio",
    )
    assert set(outcomes) == {"200"}, outcomes
    assert outcomes["200"] > 50
    view = httpx.get(fresh_cluster.url + "/v1/cluster").json()
    assert view["live_nodes"] == 2
    # After the ring moved, every tenant is still served (new owners replayed the log).
    for key in keys.values():
        r = httpx.post(
            fresh_cluster.url + "/v1/estimates",
            json={"title": "after"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["seq"] == len(HISTORY)


def test_kill_9_coordinator_loses_no_acknowledged_actual(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    _, key = make_tenant(database_url)
    auth = {"Authorization": f"Bearer {key}"}
    items = [{"id": f"w{i}", "title": f"work item {i}"} for i in range(30)]
    assert (
        httpx.post(fresh_cluster.url + "/v1/items", json={"items": items}, headers=auth).status_code
        == 201
    )
    acknowledged: dict[str, float] = {}
    last_seq = 0
    for i in range(30):
        r = httpx.post(
            fresh_cluster.url + f"/v1/items/w{i}/actual", json={"effort": 1.0 + i}, headers=auth
        )
        assert r.status_code == 200
        acknowledged[f"w{i}"] = 1.0 + i
        last_seq = r.json()["seq"]
    fresh_cluster.kill_coordinator(signal.SIGKILL)
    fresh_cluster.start_coordinator()
    fresh_cluster.wait_ready(3, timeout=60)
    with httpx.Client(base_url=fresh_cluster.url, headers=auth, timeout=30) as c:
        for item_id, effort in acknowledged.items():
            assert c.get(f"/v1/items/{item_id}").json()["actual"] == effort
        # The nodes' models reflect every acknowledged write (they catch up if behind).
        r = c.post("/v1/estimates", json={"title": "work item", "min_seq": last_seq})
        assert r.status_code == 200, r.text
        assert r.json()["seq"] == last_seq


def test_writes_racing_a_coordinator_kill_are_either_acknowledged_and_kept_or_failed(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    _, key = make_tenant(database_url)
    auth = {"Authorization": f"Bearer {key}"}
    acknowledged: list[str] = []

    async def writer() -> None:
        async with httpx.AsyncClient(base_url=fresh_cluster.url, headers=auth, timeout=5) as c:
            for i in range(400):
                try:
                    r = await c.post(
                        "/v1/items",
                        json={"items": [{"id": f"r{i}", "title": f"r {i}", "actual": 2.0}]},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acknowledged.append(f"r{i}")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await anyio.sleep(0.7)
            await anyio.to_thread.run_sync(fresh_cluster.kill_coordinator)

    anyio.run(main, backend="trio")
    assert acknowledged, "some writes were acknowledged before the kill"
    fresh_cluster.start_coordinator()
    fresh_cluster.wait_ready(3, timeout=60)
    with httpx.Client(base_url=fresh_cluster.url, headers=auth, timeout=30) as c:
        for item_id in acknowledged:
            assert c.get(f"/v1/items/{item_id}").status_code == 200, item_id


def test_malformed_frames_sent_to_a_node_inbox_do_not_crash_it(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    keys = _load_tenants(fresh_cluster, database_url, 2)
    address = f"tcp://127.0.0.1:{fresh_cluster.spec.node_ports[0]}"
    junk = [
        b"",
        b"not a frame",
        b"RKN1" + os.urandom(16) + b"\x93\x01\x02\x03",  # bad MAC
        b"RKN1" + b"\0" * 16,  # header only
        os.urandom(4096),
        b"RKN1" + os.urandom(9 * 1024 * 1024),  # oversized
    ]
    with pynng.Push0(dial=address, send_timeout=2000) as raw:
        time.sleep(0.3)
        for frame in junk:
            raw.send(frame)
    time.sleep(1.5)  # a heartbeat carries the node's counters to the coordinator
    view = httpx.get(fresh_cluster.url + "/v1/cluster").json()
    node0 = next(n for n in view["nodes"] if n["node_id"] == "node-0")
    assert node0["state"] == "live"
    assert node0["stats"]["frames_dropped"] >= len(junk) - 1
    assert fresh_cluster.nodes[0] is not None and fresh_cluster.nodes[0].poll() is None
    for key in keys.values():
        r = httpx.post(
            fresh_cluster.url + "/v1/estimates",
            json={"title": "still fine"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert r.status_code == 200


def test_sigterm_node_drains_and_leaves_without_failed_requests(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    keys = _load_tenants(fresh_cluster, database_url, 4)
    outcomes = anyio.run(
        _steady_load,
        fresh_cluster.url,
        list(keys.values()),
        4.0,
        6,
        lambda: fresh_cluster.kill_node(1, signal.SIGTERM),
        backend="trio",
    )
    assert set(outcomes) == {"200"}, outcomes
    node1 = [
        n
        for n in httpx.get(fresh_cluster.url + "/v1/cluster").json()["nodes"]
        if n["node_id"] == "node-1"
    ]
    assert node1 and node1[0]["state"] in ("draining", "dead")


def test_killed_node_rejoins_empty_and_takes_its_tenants_back_under_load(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    keys = _load_tenants(fresh_cluster, database_url, 6)
    # Reads go to a tenant's first owner: restart the node that is first for the most tenants
    # (at least two of six), so the rejoined node must take reads back.
    firsts = Counter(rendezvous_owners(t, [f"node-{i}" for i in range(3)], 2)[0] for t in keys)
    victim = int(firsts.most_common(1)[0][0].split("-")[1])
    fresh_cluster.kill_node(victim, signal.SIGKILL)
    fresh_cluster.wait_ready(2)

    def restart() -> None:
        fresh_cluster.start_node(victim)
        fresh_cluster.wait_ready(3, timeout=60)

    outcomes = anyio.run(_steady_load, fresh_cluster.url, list(keys.values()), 10.0, 6, restart,
                         backend="trio")
    assert set(outcomes) == {"200"}, outcomes
    # A slow restart may rejoin near the end of that load: keep the load going a while
    # after it is back, so that it must take reads back under load.
    outcomes = anyio.run(_steady_load, fresh_cluster.url, list(keys.values()), 3.0, 6,
                         backend="trio")
    assert set(outcomes) == {"200"}, outcomes
    for key in keys.values():
        r = httpx.post(fresh_cluster.url + "/v1/estimates", json={"title": "after rejoin"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 200 and r.json()["seq"] == len(HISTORY)
    time.sleep(1.5)  # the next heartbeats carry the node's counters
    view = httpx.get(fresh_cluster.url + "/v1/cluster").json()
    assert view["live_nodes"] == 3
    rejoined = next(n for n in view["nodes"] if n["node_id"] == f"node-{victim}")
    # Its simulator plus at least the estimators of the tenants it is first owner of.
    assert rejoined["stats"]["actors"] >= 1 + firsts[f"node-{victim}"], rejoined


def test_kill_9_a_node_during_a_forecast_its_part_runs_elsewhere_same_answer(
    fresh_cluster: LocalCluster, database_url: str
) -> None:
    from coordinator.forecast_spec import forecast_response, parse_forecast_request
    from kernels import merge_parts, simulate_part

    _, key = make_tenant(database_url)
    chain = [{"id": f"t{i}", "optimistic": 1, "likely": 2, "pessimistic": 6,
              **({"depends_on": [f"t{i - 1}"]} if i else {})} for i in range(60)]
    project = {"tasks": chain, "trials": 1_500_000, "seed": 99, "correlation": 0.2}
    result: list[httpx.Response] = []

    async def main() -> None:
        async def call() -> None:
            async with httpx.AsyncClient(timeout=300) as c:
                result.append(await c.post(fresh_cluster.url + "/v1/forecasts", json=project,
                                           headers={"Authorization": f"Bearer {key}"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.sleep(1.0)  # parts are running on all three nodes
            await anyio.to_thread.run_sync(fresh_cluster.kill_node, 2)

    anyio.run(main, backend="trio")
    [r] = result
    assert r.status_code == 200, r.text
    served = r.json()
    request = parse_forecast_request(project)
    parts = [simulate_part(request.plan, s, min(500_000, request.trials - s), request.seed)
             for s in range(0, request.trials, 500_000)]
    local = forecast_response(request.plan, merge_parts(request.plan, parts,
                                                        request.percentiles, request.bins), 0)
    assert served["duration"]["percentiles"] == local["duration"]["percentiles"]
    assert served["effort"]["histogram"] == local["effort"]["histogram"]
