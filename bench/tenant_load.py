"""How long a large tenant is unanswered when its owner dies: replaying the whole event log
against starting from the newest model snapshot.

    python -m bench.tenant_load [--items 21000] [--tail 0] [--repeat 2]

Each run starts a coordinator and two nodes (replication 1; embedded PostgreSQL unless
$RECKON_DATABASE_URL is set), imports the public story-point projects as one tenant (in
order, up to ``--items`` items with actuals), waits until the owner has refitted the
history (and, with snapshots, stored one), imports ``--tail`` more items (too few for
another refit), kills the owner with SIGKILL and, once the coordinator has dropped it from
the ring, times the first estimate the other node answers (it loads the tenant on that
request). The modes alternate in the same run: ``replay`` saves no snapshots
(``RECKON_SNAPSHOT_MIN_ITEMS=0``), so the new owner replays the whole log; ``refit``
saves snapshots only after refits (``RECKON_SNAPSHOT_EVERY=0``), so it replays the tail;
``interim`` (the default settings; only with a tail) also saves the model in use between
refits.
"""

from __future__ import annotations

import argparse
import csv
import re
import secrets
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import asyncpg
import httpx

from actors.ring import rendezvous_owners
from bench.cluster_setup import free_port, postgres, prepare_database, scratch_dir
from coordinator.launcher import LocalCluster, LocalClusterSpec

DATA = Path("/work/shared/datasets/storypoints")
TENANT = "bench"  # prepare_database's tenant
QUESTION = {"title": "Scheduler should report executor terminations", "description": "api"}


def story_items(limit: int) -> list[dict]:
    """Up to ``limit`` story-point items of every public project, project by project."""
    items: list[dict] = []
    csv.field_size_limit(1 << 24)
    for path in sorted(DATA.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                items.append({"id": row["issuekey"], "title": row["title"][:500],
                              "description": row["description"][:4000],
                              "features": {"project": path.stem},
                              "actual": float(row["storypoint"])})
                if len(items) == limit:
                    return items
    return items


async def _snapshot_seq(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM model_snapshots"))
    finally:
        await conn.close()


MODES = {
    "replay": {"RECKON_SNAPSHOT_MIN_ITEMS": "0"},
    "refit": {"RECKON_SNAPSHOT_MIN_ITEMS": "1000", "RECKON_SNAPSHOT_EVERY": "0"},
    "interim": {"RECKON_SNAPSHOT_MIN_ITEMS": "1000", "RECKON_SNAPSHOT_EVERY": "5000"},
}
LABELS = {"replay": "replay the whole log", "refit": "snapshot after refits + tail",
          "interim": "snapshot after refits and between + tail"}


def _wait_folded(c: httpx.Client, head: int, url: str, done: Callable[[int, int], bool],
                 what: str) -> tuple[dict, int, int]:
    """Estimate until the owner answers at ``head`` and ``done(refit_seq, stored_seq)``;
    the last answer, the refit's seq and the newest stored snapshot's seq."""
    deadline = time.monotonic() + 600
    while True:
        # No min_seq: an owner still folding would refuse it as behind, and the
        # coordinator would then ask the spare node, which would load the tenant too.
        r = c.post("/v1/estimates", json=QUESTION)
        ok = r.status_code == 200 and r.json()["seq"] == head
        version = r.json()["model_version"] if ok else ""
        refit = re.search(r"\+refit\d+\.s(\d+)", version)
        refit_seq = int(refit.group(1)) if refit else 0
        stored = anyio.run(_snapshot_seq, url)
        if ok and done(refit_seq, stored):
            return r.json(), refit_seq, stored
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {r.status_code} {version} stored {stored}")
        time.sleep(0.5)


def one_run(admin: str, tmp: Path, items: list[dict], tail: int, mode: str
            ) -> dict[str, float]:
    """Seconds from the ring dropping the killed owner to the first answer, and what the new
    owner had to do."""
    url, key = anyio.run(prepare_database, admin)
    spec = LocalClusterSpec(
        database_url=url, secret=secrets.token_hex(16), workdir=tmp, http_port=free_port(),
        coordinator_nng_port=free_port(), node_ports=[free_port(), free_port()],
        replication=1, heartbeat_timeout=1.0, hedge_delay=60.0,  # no spare loads it
        extra_env={"RECKON_LOG_LEVEL": "info", **MODES[mode]})
    cluster = LocalCluster(spec)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        cluster.start(timeout=120)
        with httpx.Client(base_url=cluster.url, headers=auth, timeout=120) as c:
            history, rest = items[:len(items) - tail], items[len(items) - tail:]
            saves = mode != "replay"
            for i in range(0, len(history), 2000):
                r = c.post("/v1/items", json={"items": history[i:i + 2000]})
                r.raise_for_status()
            head = r.json()["seq"]
            # The owner has folded everything and its refits are done (and saved).
            before, refit_seq, stored = _wait_folded(
                c, head, url, lambda refit, stored: refit > len(history) // 2
                and (stored >= refit if saves else stored == 0), "no refit of the history")
            for i in range(0, len(rest), 2000):
                r = c.post("/v1/items", json={"items": rest[i:i + 2000]})
                r.raise_for_status()
                head = r.json()["seq"]
            if rest:
                # Folded without another refit; in interim mode, the tail since the newest
                # snapshot is short enough that the owner saves no other.
                short = max(5000, head // 4)
                before, _, stored = _wait_folded(
                    c, head, url, lambda refit, stored: refit == refit_seq and (
                        head - stored < short if mode == "interim" else stored <= refit_seq),
                    "the tail not folded (or refitted)")
            owner = rendezvous_owners(TENANT, ["node-0", "node-1"], 1)[0]
            other = 1 - int(owner.split("-")[1])
            actors = {n["node_id"]: n["stats"].get("actors", 0)
                      for n in c.get("/v1/cluster").json()["nodes"]}
            if actors[f"node-{other}"] >= actors[owner]:  # it holds the tenant too: restart it
                cluster.kill_node(other, signal.SIGKILL)
                while c.get("/v1/cluster").json()["live_nodes"] > 1:  # seen dead, then back
                    time.sleep(0.1)
                cluster.start_node(other)
                cluster.wait_ready(2, timeout=120)
            cluster.kill_node(int(owner.split("-")[1]), signal.SIGKILL)
            while c.get("/v1/cluster").json()["live_nodes"] > 1:  # the ring has dropped it
                time.sleep(0.05)
            t0 = time.perf_counter()
            while (r := c.post("/v1/estimates", json=QUESTION)).status_code != 200:
                if time.perf_counter() - t0 > 300:
                    raise TimeoutError(r.text)
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
            after = r.json()
        # A model restored from a snapshot between refits is named by it (".r<seq>").
        same = (re.sub(r"\.r\d+/", "/", after["model_version"]) == before["model_version"]
                and (after["quantiles"], after["analogies"])
                == (before["quantiles"], before["analogies"]))
        return {"seconds": seconds, "refit_seq": refit_seq, "snapshot_seq": stored,
                "head": head, "same_model": float(same)}
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    """Alternate the two modes and print a markdown table."""
    p = argparse.ArgumentParser(prog="python -m bench.tenant_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=21000,
                   help="items in all, the tail included (default 21000)")
    p.add_argument("--tail", type=int, default=0,
                   help="of these, how many come after the refit of the rest (default 0)")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    items = story_items(args.items)
    if not 0 <= args.tail < len(items) // 2:
        p.error(f"--tail must be in [0, {len(items) // 2})")
    modes = ["replay", "refit", "interim"] if args.tail else ["replay", "refit"]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    with scratch_dir() as tmp, postgres(tmp) as admin:
        for r in range(args.repeat):
            for mode in modes:
                out = one_run(admin, tmp / f"run{r}-{mode}", items, args.tail, mode)
                results[mode].append(out)
                print(f"run {r} {mode}: {out}", file=sys.stderr, flush=True)
    base = statistics.median(x["seconds"] for x in results["replay"])
    print(f"# A large tenant's owner killed: {len(items)} items ({args.tail} after the last "
          "refit), first answer once the ring has dropped it\n")
    print("| mode | seconds (each run) | median | ratio to replay "
          "| refit's seq, newest snapshot's seq (of the log) | same model and answer |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        runs = results[mode]
        med = statistics.median(x["seconds"] for x in runs)
        each = ", ".join(f"{x['seconds']:.2f}" for x in runs)
        seqs = "; ".join(f"{int(x['refit_seq'])}, {int(x['snapshot_seq'])}" for x in runs)
        same = all(x["same_model"] for x in runs)
        print(f"| {LABELS[mode]} | {each} | {med:.2f} | {med / base:.2f} | {seqs}"
              f" (of {int(runs[0]['head'])}) | {'yes' if same else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
