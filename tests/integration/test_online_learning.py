"""Accuracy improves as a tenant's actuals stream in: an online replay through the HTTP API.

Each project of the Desharnais data set, in order, is imported without its effort, estimated
(linked to the item), then its actual is reported, as a team using the service would.
"""

from __future__ import annotations

import csv
import io
import time
from importlib import resources

import httpx
import numpy as np
import pytest

from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant

pytestmark = pytest.mark.integration


def _projects() -> list[dict]:
    text = resources.files("coordinator.demo_data").joinpath("desharnais.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    out = []
    for row in rows:
        features = {}
        for k, v in row.items():
            if k in ("id", "title", "description", "effort") or v == "":
                continue
            try:
                features[k] = float(v)
            except ValueError:
                features[k] = v
        out.append({"id": row["id"], "title": row["title"],
                    "description": row["description"], "features": features,
                    "effort": float(row["effort"])})
    return out


def test_online_replay_accuracy_improves_as_actuals_arrive(cluster3: LocalCluster,
                                                           database_url: str) -> None:
    _, key = make_tenant(database_url)
    projects = _projects()
    stream, holdout = projects[:60], projects[60:]
    checkpoints = {0: 0.0, 10: 0.0, 30: 0.0, 60: 0.0}
    holdout_body = {"items": [{k: p[k] for k in ("title", "description", "features")}
                              for p in holdout]}
    truth = np.array([p["effort"] for p in holdout])
    with httpx.Client(base_url=cluster3.url, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as c:

        def holdout_mae() -> float:
            r = c.post("/v1/estimates/batch", json=holdout_body)
            assert r.status_code == 200, r.text
            p50 = np.array([e["p50"] for e in r.json()["estimates"]])
            return float(np.mean(np.abs(p50 - truth)))

        checkpoints[0] = holdout_mae()
        for n, p in enumerate(stream, start=1):
            item = {k: p[k] for k in ("id", "title", "description", "features")}
            assert c.post("/v1/items", json={"items": [item]}).status_code == 201
            est = c.post("/v1/estimates", json={"title": p["title"],
                                                "description": p["description"],
                                                "features": p["features"], "item_id": p["id"]})
            assert est.status_code == 200, est.text
            r = c.post(f"/v1/items/{p['id']}/actual", json={"effort": p["effort"]})
            assert r.status_code == 200
            if n in checkpoints:
                checkpoints[n] = holdout_mae()
        time.sleep(0.5)  # ledger batches
        acc = c.get("/v1/models/accuracy").json()

    # The same held-out projects are estimated better and better as actuals arrive.
    assert checkpoints[10] < checkpoints[0], checkpoints
    assert checkpoints[30] < checkpoints[10], checkpoints
    assert checkpoints[60] < checkpoints[30], checkpoints
    assert checkpoints[60] < 0.75 * checkpoints[0], checkpoints
    # Every streamed estimate was resolved by its actual and is in the live accuracy report.
    assert acc["estimates_resolved"] == len(stream)
    assert acc["windows"]["last_50"]["count"] == 50
    assert acc["windows"]["all"]["count"] == len(stream)
    assert 0.0 < acc["windows"]["all"]["coverage80"] <= 1.0
