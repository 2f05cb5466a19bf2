"""End to end over real HTTP: import, estimate, actuals, read-your-writes, item lookup."""

from __future__ import annotations

import time

import httpx
import jsonschema
import pytest

from coordinator.launcher import LocalCluster
from tests.conftest import make_tenant

pytestmark = pytest.mark.integration


def client(cluster: LocalCluster, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


HISTORY = [
    {
        "id": f"h{i}",
        "title": f"{kind} {i}",
        "description": desc,
        "features": {"size": size},
        "actual": effort,
    }
    for i, (kind, desc, size, effort) in enumerate(
        [
            ("Fix typo in login page", "copy change", 1, 1.0),
            ("Add OAuth provider", "new identity provider with token refresh", 8, 13.0),
            ("Migrate billing database", "schema migration with backfill and rollback", 13, 21.0),
            ("Fix crash on empty cart", "null check in checkout", 2, 2.0),
            ("Build reporting dashboard", "charts, filters, export to CSV", 8, 13.0),
        ]
        * 6
    )
]


def test_import_estimate_actual_and_lookup(cluster3: LocalCluster, database_url: str) -> None:
    _, key = make_tenant(database_url)
    with client(cluster3, key) as c:
        r = c.post("/v1/items", json={"items": HISTORY})
        assert r.status_code == 201, r.text
        imported = r.json()
        assert imported["imported"] == len(HISTORY)
        seq = imported["seq"]
        assert seq == len(HISTORY)

        r = c.post(
            "/v1/estimates",
            json={
                "title": "Migrate orders database",
                "description": "schema migration with backfill",
                "features": {"size": 13},
                "min_seq": seq,
            },
        )
        assert r.status_code == 200, r.text
        est = r.json()
        assert est["p10"] <= est["p50"] <= est["p90"]
        assert est["seq"] >= seq  # read-your-writes
        assert est["model_version"].endswith(f"@{est['seq']}")
        assert est["analogies"], "analogies from the imported history"
        assert {"id", "title", "effort", "similarity"} <= set(est["analogies"][0])

        # A new item without an actual, then its actual arrives.
        r = c.post(
            "/v1/items",
            json={"items": [{"id": "new-1", "title": "Add SSO login", "features": {"size": 8}}]},
        )
        assert r.status_code == 201
        r = c.post("/v1/items/new-1/actual", json={"effort": 11.5})
        assert r.status_code == 200, r.text
        actual_seq = r.json()["seq"]
        r = c.post("/v1/estimates", json={"title": "Add SSO login", "item_id": "new-1",
                                          "quantiles": [0.05, 0.975]})
        assert r.json()["seq"] >= actual_seq

        item = c.get("/v1/items/new-1").json()
        assert item["actual"] == 11.5 and item["actual_seq"] == actual_seq
        # The recorded estimate's quantiles come back as they were answered, in order (the
        # ledger writes in batches off the request path).
        deadline = time.monotonic() + 5
        while not item["estimates"] and time.monotonic() < deadline:
            time.sleep(0.1)
            item = c.get("/v1/items/new-1").json()
        [recorded] = item["estimates"]
        assert list(recorded["quantiles"]) == list(r.json()["quantiles"]) == [
            "0.05", "0.1", "0.5", "0.9", "0.975"]


def test_batch_estimates_and_csv_import(cluster3: LocalCluster, database_url: str) -> None:
    _, key = make_tenant(database_url)
    csv_body = "id,title,description,effort,size,team\n" + "\n".join(
        f"c{i},Task {i},desc {i},{1 + i % 5},{i % 7},{'core' if i % 2 else 'web'}"
        for i in range(40)
    )
    with client(cluster3, key) as c:
        r = c.post("/v1/items", content=csv_body, headers={"Content-Type": "text/csv"})
        assert r.status_code == 201, r.text
        assert r.json()["with_actual"] == 40
        items = [
            {"title": f"Task {i}", "features": {"size": i % 7, "team": "core"}} for i in range(25)
        ]
        r = c.post("/v1/estimates/batch", json={"items": items, "quantiles": [0.25, 0.75]})
        assert r.status_code == 200, r.text
        out = r.json()["estimates"]
        assert len(out) == 25
        for e in out:
            q = e["quantiles"]
            assert set(q) == {"0.1", "0.25", "0.5", "0.75", "0.9"}
            assert q["0.1"] <= q["0.25"] <= q["0.5"] <= q["0.75"] <= q["0.9"]


def test_idempotency_key_replays_the_first_response(
    cluster3: LocalCluster, database_url: str
) -> None:
    _, key = make_tenant(database_url)
    body = {"items": [{"id": "x1", "title": "Once only", "actual": 3}]}
    with client(cluster3, key) as c:
        first = c.post("/v1/items", json=body, headers={"Idempotency-Key": "k-1"})
        second = c.post("/v1/items", json=body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers.get("Idempotent-Replayed") == "true"
        other = c.post(
            "/v1/items",
            json={"items": [{"id": "x2", "title": "Other"}]},
            headers={"Idempotency-Key": "k-1"},
        )
        assert other.status_code == 409
        assert other.json()["field"] == "Idempotency-Key"
        # Only one event was appended for the two identical requests.
        again = c.post("/v1/items", json={"items": [{"id": "x3", "title": "Next"}]})
        assert again.json()["seq"] == first.json()["seq"] + 1


def test_tenants_are_isolated(cluster3: LocalCluster, database_url: str) -> None:
    _, key_a = make_tenant(database_url)
    _, key_b = make_tenant(database_url)
    with client(cluster3, key_a) as a, client(cluster3, key_b) as b:
        assert (
            a.post(
                "/v1/items", json={"items": [{"id": "secret", "title": "A's item", "actual": 5}]}
            ).status_code
            == 201
        )
        assert b.get("/v1/items/secret").status_code == 404
        est = b.post("/v1/estimates", json={"title": "A's item"}).json()
        assert all(an["id"] != "secret" for an in est["analogies"])


def test_cluster_view_and_operational_endpoints(cluster3: LocalCluster) -> None:
    with httpx.Client(base_url=cluster3.url, timeout=10) as c:
        view = c.get("/v1/cluster").json()
        assert view["live_nodes"] == 3 and view["replication"] == 2
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").status_code == 200
        metrics = c.get("/metrics")
        assert metrics.status_code == 200
        assert "reckon_http_requests_total" in metrics.text
        assert "reckon_transport_frames_in" in metrics.text
        spec = c.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.1")
        assert "/v1/estimates" in spec["paths"]


def test_estimate_outcomes_are_recorded_and_reported(cluster3: LocalCluster,
                                                     database_url: str) -> None:
    _, key = make_tenant(database_url)
    with client(cluster3, key) as c:
        assert c.post("/v1/items", json={"items": HISTORY}).status_code == 201
        new = [{"id": f"n{i}", "title": f"Fix crash {i}", "features": {"size": 2}}
               for i in range(4)]
        assert c.post("/v1/items", json={"items": new}).status_code == 201
        issued = {}
        for it in new:
            r = c.post("/v1/estimates", json={"title": it["title"], "item_id": it["id"],
                                              "features": it["features"]})
            issued[it["id"]] = r.json()
        time.sleep(0.3)  # the ledger writes in batches off the request path
        # Two actuals through the actual endpoint, one through a re-import with an actual.
        c.post("/v1/items/n0/actual", json={"effort": 2.0})
        c.post("/v1/items/n1/actual", json={"effort": 40.0})
        c.post("/v1/items", json={"items": [{"id": "n2", "title": "Fix crash 2",
                                             "actual": 3.0}]})
        # An estimate made once the model has the actual is recorded but not scored: the
        # answer is among its analogies.
        late = c.post("/v1/estimates", json={"title": "Fix crash 0", "item_id": "n0"}).json()
        time.sleep(0.3)
        item = c.get("/v1/items/n1").json()
        [est] = item["estimates"]
        assert est["id"] == issued["n1"]["id"]
        assert est["actual"] == 40.0
        assert est["abs_error"] == pytest.approx(abs(issued["n1"]["p50"] - 40.0))
        assert est["covered80"] == (issued["n1"]["p10"] <= 40.0 <= issued["n1"]["p90"])
        n0 = {e["id"]: e for e in c.get("/v1/items/n0").json()["estimates"]}
        assert n0[issued["n0"]["id"]]["actual"] == 2.0
        assert n0[late["id"]]["actual"] is None and any(
            an["id"] == "n0" for an in late["analogies"])
        acc = c.get("/v1/models/accuracy").json()
        assert acc["estimates_issued"] == 5
        assert acc["estimates_resolved"] == 3  # n0 (the first), n1, n2; n3 has no actual yet
        window = acc["windows"]["all"]
        assert window["count"] == 3
        assert 0.0 <= window["coverage80"] <= 1.0 and window["mae"] > 0


def test_a_retried_actual_changes_no_score_and_a_correction_only_rescores(
        cluster3: LocalCluster, database_url: str) -> None:
    """An estimate before the actual is scored; one after it is not, and stays unscored when
    the same actual comes again (retried, or re-imported) and when it is corrected. The
    correction re-scores the first estimate against the new value, and the item lists its
    estimates in the order they were issued."""
    _, key = make_tenant(database_url)
    with client(cluster3, key) as c:
        assert c.post("/v1/items", json={"items": HISTORY}).status_code == 201
        assert c.post("/v1/items", json={"items": [
            {"id": "n0", "title": "Fix crash 0", "features": {"size": 2}}]}).status_code == 201
        ask = {"title": "Fix crash 0", "item_id": "n0", "features": {"size": 2}}
        before = c.post("/v1/estimates", json=ask).json()
        first = c.post("/v1/items/n0/actual", json={"effort": 2.0}).json()
        after = c.post("/v1/estimates", json={**ask, "min_seq": first["seq"]}).json()
        time.sleep(0.3)  # the ledger writes in batches off the request path
        scored = c.get("/v1/models/accuracy").json()
        assert scored["estimates_resolved"] == 1
        again = c.post("/v1/items/n0/actual", json={"effort": 2.0})
        assert again.status_code == 200
        assert c.post("/v1/items", json={"items": [
            {"id": "n0", "title": "Fix crash 0", "features": {"size": 2},
             "actual": 2.0}]}).status_code == 201
        assert c.get("/v1/models/accuracy").json() == scored
        item = c.get("/v1/items/n0").json()
        assert item["actual_seq"] == first["seq"]
        assert [e["id"] for e in item["estimates"]] == [before["id"], after["id"]]
        assert [e["actual"] for e in item["estimates"]] == [2.0, None]
        assert c.post("/v1/items/n0/actual", json={"effort": 9.0}).status_code == 200
        item = c.get("/v1/items/n0").json()
        assert [e["id"] for e in item["estimates"]] == [before["id"], after["id"]]
        assert [e["actual"] for e in item["estimates"]] == [9.0, None]
        assert item["estimates"][0]["abs_error"] == pytest.approx(abs(before["p50"] - 9.0))
        acc = c.get("/v1/models/accuracy").json()
        assert acc["estimates_resolved"] == 1
        assert acc["windows"]["all"]["mae"] == pytest.approx(abs(before["p50"] - 9.0))


def _validator(spec: dict, schema: dict) -> jsonschema.Draft202012Validator:
    """A validator of ``schema`` whose references resolve in the OpenAPI document."""
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def _response_schema(spec: dict, path: str, status: str) -> dict:
    return spec["paths"][path]["post"]["responses"][status]["content"]["application/json"][
        "schema"]


def test_the_openapi_document_describes_the_real_answers(cluster3: LocalCluster,
                                                          database_url: str) -> None:
    """Real answers validate against /openapi.json, with every field the API always sends
    listed as required, and requests it refuses are refused by the document too."""
    _, key = make_tenant(database_url)
    with client(cluster3, key) as c:
        spec = c.get("/openapi.json").json()
        imported = c.post("/v1/items", json={"items": HISTORY})
        _validator(spec, _response_schema(spec, "/v1/items", "201")).validate(imported.json())
        assert set(imported.json()) == set(
            _response_schema(spec, "/v1/items", "201")["properties"])
        one = c.post("/v1/estimates", json={"title": "Fix login crash", "quantiles": [0.25]})
        estimate = {"$ref": "#/components/schemas/Estimate"}
        _validator(spec, estimate).validate(one.json())
        assert set(one.json()) == set(spec["components"]["schemas"]["Estimate"]["required"])
        batch = c.post("/v1/estimates/batch", json={"items": [{"title": "a"}, {"title": "b"}]})
        _validator(spec, _response_schema(spec, "/v1/estimates/batch", "200")).validate(
            batch.json())
        # What the API refuses, the document refuses as well.
        batch_body = spec["paths"]["/v1/estimates/batch"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
        for refused in ({"items": [{"title": "a", "quantiles": [0.3]}]},
                        {"items": [{"title": "a"}], "quantiles": [0.5] * 51}):
            assert c.post("/v1/estimates/batch", json=refused).status_code == 422
            assert not _validator(spec, batch_body).is_valid(refused)
        reused = {"Idempotency-Key": "k1"}
        assert c.post("/v1/items/h1/actual", json={"effort": 2}, headers=reused).is_success
        conflict = c.post("/v1/items/h1/actual", json={"effort": 3}, headers=reused)
        assert conflict.status_code == 409
        assert "409" in spec["paths"]["/v1/items/{item_id}/actual"]["post"]["responses"]
