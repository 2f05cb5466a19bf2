"""A bulk import larger than one nng frame is acknowledged, replicated and replayed."""

from __future__ import annotations

import time

import httpx
import pytest

from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant

pytestmark = pytest.mark.integration


def test_import_of_more_than_a_frame_is_served_by_every_owner(
    cluster3: LocalCluster, database_url: str
) -> None:
    _, key = make_tenant(database_url)
    words = "refactor billing export api cache search login report audit queue".split()
    items = [
        {"id": f"big{i}", "title": f"{words[i % 10]} {words[(i * 3) % 10]} {i}",
         "description": (" ".join(words[(i + j) % 10] for j in range(400)))[:2400],
         "features": {"size": i % 13}, "actual": float(1 + i % 21)}
        for i in range(5000)
    ]  # about 13 MB of events: more than one 8 MiB frame
    with httpx.Client(base_url=cluster3.url, headers={"Authorization": f"Bearer {key}"},
                      timeout=120) as c:
        r = c.post("/v1/items", json={"items": items})
        assert r.status_code == 201, r.text
        seq = r.json()["seq"]
        # Until the owners have folded the import, an estimate that must reflect it is
        # answered 503 with Retry-After (never a stale answer, never a 500).
        deadline = time.monotonic() + 120
        while True:
            r = c.post("/v1/estimates", json={"title": "refactor billing", "min_seq": seq})
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            assert "Retry-After" in r.headers
            time.sleep(float(r.headers["Retry-After"]))
        assert r.status_code == 200, r.text
        assert r.json()["seq"] == seq
        # Folding happened off the nodes' event loops: no node missed its heartbeats.
        assert c.get("/v1/cluster").json()["live_nodes"] == 3
