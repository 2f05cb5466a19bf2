"""The Estimator facade: validation, learning semantics, predictions and state."""

from __future__ import annotations

import csv
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from kernels import Analogy, Estimator, EstimatorConfig, Prediction
from kernels.estimator import prior_model

Q = np.array([0.1, 0.5, 0.9])
SMALL = EstimatorConfig(dim=256, meta_width=32)
DEMO_CSV = Path(__file__).parents[2] / "coordinator" / "demo_data" / "desharnais.csv"
WORDS = ["login", "parser", "crash", "cache", "scheduler", "ui", "refactor", "api", "docs", "test"]


def synthetic(
    n: int, seed: int
) -> tuple[list[str], list[str], list[str], list[dict[str, Any]], np.ndarray]:
    """Items whose log effort depends on a size feature, a team and a keyword."""
    rng = np.random.default_rng(seed)
    ids, titles, descs, feats, efforts = [], [], [], [], []
    for i in range(n):
        word = WORDS[rng.integers(len(WORDS))]
        size = float(rng.integers(1, 50))
        team = ["web", "core", "infra"][rng.integers(3)]
        log_e = 0.5 + 0.4 * np.log1p(size) + (0.5 if team == "core" else 0.0)
        log_e += 0.4 * (WORDS.index(word) % 3) + rng.normal(0, 0.3)
        ids.append(f"T-{seed}-{i}")
        titles.append(f"{word} change {i % 7}")
        descs.append(" ".join(rng.choice(WORDS, size=5)))
        feats.append({"size": size if rng.random() > 0.1 else None, "team": team})
        efforts.append(float(np.exp(log_e)))
    return ids, titles, descs, feats, np.array(efforts)


def predictions_equal(a: list[Prediction], b: list[Prediction], rtol: float = 0.0) -> None:
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(p.quantiles, q.quantiles, rtol=rtol)
        assert p.median == pytest.approx(q.median, rel=rtol, abs=0)
        assert [x.item_id for x in p.analogies] == [x.item_id for x in q.analogies]
        assert [name for name, _ in p.drivers] == [name for name, _ in q.drivers]
        np.testing.assert_allclose(
            [c for _, c in p.drivers], [c for _, c in q.drivers], rtol=rtol, atol=1e-12
        )


def test_cold_start_is_sane_and_wide() -> None:
    est = Estimator()
    p = est.predict("Add login page", "", {}, Q)
    assert est.n_observations == 0
    assert p.analogies == () and p.median == pytest.approx(EstimatorConfig().prior_median)
    assert 0 < p.quantiles[0] < p.median < p.quantiles[2]
    assert p.quantiles[2] / p.quantiles[0] > 10


def test_invalid_inputs_raise_clear_errors() -> None:
    est = Estimator(SMALL)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite and > 0"):
            est.learn("A", "t", "d", {}, bad)
    for levels in (
        np.array([0.0, 0.5]),
        np.array([0.5, 1.0]),
        np.array([[0.5]]),
        np.array([np.nan]),
    ):
        with pytest.raises(ValueError, match="quantiles"):
            est.predict("t", "d", {}, levels)
    with pytest.raises(ValueError, match="same length"):
        est.learn_many(["a", "b"], ["t"], ["d"], [{}], np.array([1.0]))
    with pytest.raises(ValueError, match="unsupported value"):
        est.learn("A", "t", "d", {"x": object()}, 1.0)
    with pytest.raises(ValueError, match="too large"):
        est.learn("A", "t", "d", {"x": 10**400}, 1.0)
    with pytest.raises(ValueError, match="strings"):
        est.learn(1, "t", "d", {}, 1.0)  # type: ignore[arg-type]
    assert est.n_observations == 0


def test_learn_many_equals_sequential_learn() -> None:
    ids, titles, descs, feats, efforts = synthetic(60, 0)
    ids[40] = ids[10]  # a replacement inside the batch
    seq = Estimator(SMALL)
    for i in range(60):
        seq.learn(ids[i], titles[i], descs[i], feats[i], efforts[i])
    # On dim 256, a 61-row update takes the block path and a 10-row one the rank-1 path.
    for chunks in ([60], [10] * 6):
        batch = Estimator(SMALL)
        lo = 0
        for size in chunks:
            sl = slice(lo, lo + size)
            batch.learn_many(ids[sl], titles[sl], descs[sl], feats[sl], efforts[sl])
            lo += size
        assert batch.n_observations == seq.n_observations == 59
        _, q_t, q_d, q_f, _ = synthetic(15, 1)
        predictions_equal(
            batch.predict_many(q_t, q_d, q_f, Q), seq.predict_many(q_t, q_d, q_f, Q), rtol=1e-9
        )


def test_relearning_an_item_replaces_its_actual() -> None:
    ids, titles, descs, _, efforts = synthetic(30, 2)
    feats: list[dict[str, Any]] = [{"team": "web"}] * 30  # no numeric scaling involved
    once = Estimator(SMALL)
    once.learn_many(ids, titles, descs, feats, efforts)
    twice = Estimator(SMALL)
    wrong = efforts.copy()
    wrong[[3, 8]] = [100.0, 0.01]
    twice.learn_many(ids, titles, descs, feats, wrong)
    twice.learn(ids[3], titles[3], descs[3], feats[3], efforts[3])
    twice.learn(ids[8], titles[8], descs[8], feats[8], efforts[8])
    assert twice.n_observations == 30
    # The linear model forgets the wrong actuals exactly; the calibration records keep
    # the history of what was predicted, so compare the posteriors and, after a refit
    # (which recomputes the records), the predictions.
    np.testing.assert_allclose(twice._model.mean_, once._model.mean_, rtol=1e-7, atol=1e-10)
    predictions_equal(
        twice.refit().predict_many(titles, descs, feats, Q),
        once.refit().predict_many(titles, descs, feats, Q),
        rtol=1e-7,
    )
    p = twice.predict(titles[3], descs[3], feats[3], Q)
    assert [a.effort for a in p.analogies if a.item_id == ids[3]] == [efforts[3]]




def test_a_corrected_actual_leaves_no_trace_in_the_calibration() -> None:
    """An item learned with a wrong actual (one the intervals miss), then corrected,
    predicts as if only the right actual had ever come, without a refit: the wrong
    actual's calibration record goes, and so does the step it gave the inflation. A
    snapshot keeps what a later correction needs."""
    ids, titles, descs, _, efforts = synthetic(40, 4)
    feats: list[dict[str, Any]] = [{"team": "web"}] * 40  # no numeric scaling involved
    right = Estimator(SMALL)
    right.learn_many(ids, titles, descs, feats, efforts)
    corrected = Estimator(SMALL)
    corrected.learn_many(ids[:39], titles[:39], descs[:39], feats[:39], efforts[:39])
    corrected.learn(ids[39], titles[39], descs[39], feats[39], 1000.0 * efforts[39])
    assert corrected._calibrator.inflation != right._calibrator.inflation
    restored = Estimator.from_state(_unpack(_pack(corrected.to_state())))
    for est in (corrected, restored):
        est.learn(ids[39], titles[39], descs[39], feats[39], efforts[39])
        assert est._calibrator.ids == ids
        assert est._calibrator.inflation == pytest.approx(right._calibrator.inflation)
        _, q_t, q_d, _, _ = synthetic(15, 5)
        predictions_equal(est.predict_many(q_t, q_d, feats[:15], Q),
                          right.predict_many(q_t, q_d, feats[:15], Q), rtol=1e-7)


def _same_state(a: Estimator, b: Estimator) -> bool:
    sa, sb = _unpack(_pack(a.to_state())), _unpack(_pack(b.to_state()))
    return _pack(sa) == _pack(sb)


def test_learning_what_the_model_already_holds_changes_nothing() -> None:
    ids, titles, descs, feats, efforts = synthetic(40, 3)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    before = Estimator.from_state(est.to_state())
    # The same actual reported again, alone and in a batch twice over.
    est.learn(ids[5], titles[5], descs[5], feats[5], efforts[5])
    est.learn_many([ids[7], ids[7]], [titles[7]] * 2, [descs[7]] * 2, [feats[7]] * 2,
                   [efforts[7]] * 2)
    assert _same_state(est, before)
    # Anything different is learned: the actual, the description, a feature.
    for change in ({"effort": efforts[5] * 2}, {"description": descs[5] + " and more"},
                   {"features": {**feats[5], "extra": 1.0}}):
        other = Estimator.from_state(before.to_state())
        item = {"title": titles[5], "description": descs[5], "features": feats[5],
                "effort": efforts[5], **change}
        other.learn(ids[5], item["title"], item["description"], item["features"],
                    item["effort"])
        assert other._items.n_rows == before._items.n_rows + 1, change
    # In a batch each entry is compared with the one before it: a -> b -> a is learned.
    other = Estimator.from_state(before.to_state())
    other.learn_many([ids[5]] * 3, [titles[5]] * 3, [descs[5]] * 3, [feats[5]] * 3,
                     [efforts[5] * 2, efforts[5], efforts[5]])
    assert other._items.n_rows == before._items.n_rows + 2
    assert other._items.efforts[other._items.row_of(ids[5])] == efforts[5]
    # A value the model refuses is refused for a repeat too, whatever the model holds.
    other.learn("flagged", "t", "", {"flag": 1.0}, 2.0)
    for refused in (np.bool_(True), Decimal("1")):
        with pytest.raises(ValueError, match="unsupported value"):
            other.learn("flagged", "t", "", {"flag": refused}, 2.0)

def _desharnais() -> Estimator:
    """A refitted model of the demo tenant's history (81 projects, ten features each)."""
    with open(DEMO_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    text = {"id", "title", "description", "effort"}
    feats = [{k: (v if k == "Language" else float(v)) for k, v in r.items()
              if k not in text and v != ""} for r in rows]
    est = Estimator(EstimatorConfig())
    est.learn_many([r["id"] for r in rows], [r["title"] for r in rows],
                   [r["description"] for r in rows], feats,
                   np.array([float(r["effort"]) for r in rows]))
    return est.refit()


def test_one_item_without_features_does_not_take_over_sparse_queries() -> None:
    """A tenant of 81 projects (thousands of hours) learns one small item that has no
    features. Queries that give a few features, or none, must not follow it: what a client
    leaves out says nothing about the work, so neither the linear model nor the analogies
    may treat two items as alike for lacking the same features."""
    est = _desharnais()
    queries = [("Order entry screens", {"Transactions": 200, "Entities": 80, "Language": "basic"}),
               ("Billing", {})]
    before = [est.predict(t, "", f, Q) for t, f in queries]
    est.learn("tiny", "Fix typo", "", {}, 3.0)
    after = [est.predict(t, "", f, Q) for t, f in queries]
    for b, a in zip(before, after, strict=True):
        assert 0.67 < a.median / b.median < 1.5, (b.median, a.median)
        assert a.analogies[0].item_id != "tiny"
        assert "tiny" not in [x.item_id for x in a.analogies[:3]]
    # Every driver is a feature the query gave (or its text).
    assert {name for name, _ in after[0].drivers} <= {
        "Transactions", "Entities", "Language=basic", "text"}

def test_quantiles_monotone_positive_and_narrow_with_data() -> None:
    ids, titles, descs, feats, efforts = synthetic(400, 3)
    few, many = Estimator(SMALL), Estimator(SMALL)
    few.learn_many(ids[:8], titles[:8], descs[:8], feats[:8], efforts[:8])
    many.learn_many(ids, titles, descs, feats, efforts)
    levels = np.array([0.9, 0.05, 0.5, 0.25, 0.95])  # any order; results follow it
    _, q_t, q_d, q_f, _ = synthetic(50, 4)
    width_few, width_many = [], []
    for est, widths in ((few, width_few), (many, width_many)):
        for p in est.predict_many(q_t, q_d, q_f, levels):
            assert np.all(p.quantiles > 0)
            assert np.all(np.diff(p.quantiles[np.argsort(levels)]) >= 0)
            assert p.quantiles[2] == pytest.approx(p.median)
            assert efforts.min() <= p.median <= efforts.max()
            widths.append(p.quantiles[4] / p.quantiles[1])
    assert np.median(width_few) > np.median(width_many)


def test_model_learns_the_signal() -> None:
    ids, titles, descs, feats, efforts = synthetic(500, 5)
    est = Estimator(SMALL)
    est.learn_many(ids[:400], titles[:400], descs[:400], feats[:400], efforts[:400])
    preds = est.predict_many(titles[400:], descs[400:], feats[400:], Q)
    mae = np.mean(np.abs([p.median for p in preds] - efforts[400:]))
    baseline = np.mean(np.abs(np.median(efforts[:400]) - efforts[400:]))
    assert mae < 0.8 * baseline
    p = preds[0]
    assert len(p.analogies) == SMALL.n_analogies
    assert all(isinstance(a, Analogy) for a in p.analogies)
    sims = [a.similarity for a in p.analogies]
    assert sims == sorted(sims, reverse=True) and -1 <= sims[-1] <= sims[0] <= 1 + 1e-9
    assert 0 < len(p.drivers) <= SMALL.n_drivers
    assert {name for name, _ in p.drivers} <= {
        "size",
        "team=web",
        "team=core",
        "team=infra",
        "text",
    }


def _pack(state: dict[str, Any]) -> bytes:
    def encode(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return {"nd": [obj.dtype.str, list(obj.shape), obj.tobytes()]}
        raise TypeError(type(obj))

    return msgpack.packb(state, default=encode)


def _unpack(data: bytes) -> dict[str, Any]:
    def decode(obj: dict[str, Any]) -> Any:
        if "nd" in obj:
            dtype, shape, raw = obj["nd"]
            return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
        return obj

    return msgpack.unpackb(data, object_hook=decode)


def test_state_round_trip_through_msgpack() -> None:
    ids, titles, descs, feats, efforts = synthetic(120, 6)
    est = Estimator(SMALL)
    est.learn_many(ids[:100], titles[:100], descs[:100], feats[:100], efforts[:100])
    est.learn(ids[5], titles[5], descs[5], feats[5], 9.0)  # leaves a retired row behind
    state = est.to_state(with_index=True)
    # The model is left as it is (compacting it would rebuild its index): the state holds
    # the live items only, and no graph, which still holds the retired row.
    assert est._items.n_rows == 101 and len(state["items.ids"]) == 100
    assert not any(key.startswith("index.") for key in state)
    for key, value in state.items():
        assert isinstance(key, str)
        ok = isinstance(value, (np.ndarray, int, float, str)) and not isinstance(value, bool)
        ok = ok or (isinstance(value, list) and all(isinstance(s, str) for s in value))
        assert ok, (key, type(value))
    restored = Estimator.from_state(_unpack(_pack(state)))
    assert restored.n_observations == est.n_observations == 100
    assert restored.config == est.config
    q_t, q_d, q_f = titles[100:], descs[100:], feats[100:]
    for a, b in zip(
        restored.predict_many(q_t, q_d, q_f, Q), est.predict_many(q_t, q_d, q_f, Q), strict=True
    ):
        np.testing.assert_array_equal(a.quantiles, b.quantiles)
        assert (a.median, a.analogies, a.drivers) == (b.median, b.analogies, b.drivers)
    # both keep learning identically
    for e in (est, restored):
        e.learn_many(ids[100:], titles[100:], descs[100:], feats[100:], efforts[100:])
    predictions_equal(restored.predict_many(q_t, q_d, q_f, Q), est.predict_many(q_t, q_d, q_f, Q))
    with pytest.raises(ValueError, match="version"):
        Estimator.from_state({**state, "version": 99})
    broken = dict(state)
    del broken["model.cov"]
    with pytest.raises(ValueError, match="malformed"):
        Estimator.from_state(broken)


@pytest.mark.parametrize("n", [300, 4200])  # searched exhaustively / through the graph
def test_state_with_index_restores_the_same_graph(n: int) -> None:
    """A refitted model saved with its graph and restored is the same model, and stays the
    same as both learn more (hnswlib draws each new item's level at random: the refit
    reseeds its generator so that a restored copy draws the same levels)."""
    from actors.wire import pack, unpack

    more = 1500
    ids, titles, descs, feats, efforts = synthetic(n + more + 200, 11)
    est = Estimator(SMALL)
    est.learn_many(ids[:n], titles[:n], descs[:n], feats[:n], efforts[:n])
    est = est.refit()
    state = unpack(pack(est.to_state(with_index=True)))
    assert any(key.startswith("index.") for key in state)
    restored = Estimator.from_state(state)
    q_t, q_d, q_f = titles[-200:], descs[-200:], feats[-200:]
    predictions_equal(restored.predict_many(q_t, q_d, q_f, Q), est.predict_many(q_t, q_d, q_f, Q))
    assert (restored._index._flat is None) == (est._index._flat is None) == (n > 4096)
    end = n + more
    for e in (est, restored):
        e.learn_many(ids[n:end], titles[n:end], descs[n:end], feats[n:end], efforts[n:end])
    a, b = est._index.graph_state(), restored._index.graph_state()
    np.testing.assert_array_equal(a["element_levels"], b["element_levels"])
    np.testing.assert_array_equal(a["link_lists"], b["link_lists"])
    predictions_equal(restored.predict_many(q_t, q_d, q_f, Q), est.predict_many(q_t, q_d, q_f, Q))


def test_state_with_a_graph_of_other_items_is_refused() -> None:
    ids, titles, descs, feats, efforts = synthetic(60, 12)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    state = est.to_state(with_index=True)
    other = Estimator(SMALL)
    other.learn_many(ids[:50], titles[:50], descs[:50], feats[:50], efforts[:50])
    foreign = {k: v for k, v in other.to_state(with_index=True).items() if k.startswith("index.")}
    truncated = {**state, "index.link_lists": state["index.link_lists"][:-1]}
    retyped = {**state, "index.data_level0": state["index.data_level0"].astype(np.float64)}
    per = int(state["index.size_data_per_element"])
    rows = state["index.data_level0"].view(np.uint8).reshape(-1, per)

    def level0(change) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        copy = rows.copy()
        change(copy)
        return {**state, "index.data_level0": copy.reshape(-1).view(np.int8)}

    def far_link(r: np.ndarray) -> None:
        r[0, 4:8] = np.frombuffer(np.uint32(10**9).tobytes(), np.uint8)
        r[0, 0:2] = np.frombuffer(np.uint16(1).tobytes(), np.uint8)

    def too_many_links(r: np.ndarray) -> None:
        r[0, 0:2] = np.frombuffer(np.uint16(60000).tobytes(), np.uint8)

    def far_label(r: np.ndarray) -> None:
        r[0, -8:] = np.frombuffer(np.uint64(10**12).tobytes(), np.uint8)

    def moved_vector(r: np.ndarray) -> None:
        r[0, int(state["index.offset_data"]):][:4] ^= 0x40

    bad = [{**state, **foreign}, truncated, retyped, {**state, "index.dim": 3},
           {**state, "index.enterpoint_node": 10**9}, {**state, "index.max_level": 7},
           level0(far_link), level0(too_many_links), level0(far_label), level0(moved_vector)]
    for broken in bad:
        with pytest.raises(ValueError, match=r"malformed|does not"):
            Estimator.from_state(broken)


def test_refit_equals_learning_afresh_with_the_chosen_prior() -> None:
    ids, titles, descs, _, efforts = synthetic(150, 8)
    feats: list[dict[str, Any]] = [{"team": "web"}] * 150
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    refitted = est.refit()
    assert refitted.n_observations == 150 and est.config == SMALL  # the original is untouched
    fresh = Estimator(refitted.config)
    fresh.learn_many(ids, titles, descs, feats, efforts)
    np.testing.assert_allclose(refitted._model.mean_, fresh._model.mean_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(refitted._model.cov_, fresh._model.cov_, rtol=1e-6, atol=1e-9)
    p = refitted.predict_many(titles[:20], descs[:20], feats[:20], Q)
    assert all(0 < x.quantiles[0] < x.median < x.quantiles[2] for x in p)


def test_refit_loosens_the_bias_prior_for_a_tenant_far_from_the_cold_start_scale() -> None:
    ids, titles, descs, feats, efforts = synthetic(120, 9)
    big = efforts * 2000.0  # hours where the cold-start prior expects a few points
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, big)
    refitted = est.refit()
    assert refitted.config.prior_bias_var > SMALL.prior_bias_var
    # with the loose prior, the refitted intercept is the data's own level (no pull
    # towards log(prior_median)): the linear model's residuals on its data centre on 0
    rows = refitted._items.rows(np.arange(120))
    loc, _, _ = refitted._model.predict(*rows)
    assert abs(float(np.mean(np.log(big) - loc))) < 0.02
    # the further the tenant's scale from the prior's, the looser the chosen bias prior
    near = Estimator(SMALL)
    near.learn_many(ids, titles, descs, feats, efforts)
    assert near.refit().config.prior_bias_var <= refitted.config.prior_bias_var


def test_refit_gives_a_strong_driver_a_looser_prior_than_noise_features() -> None:
    """Automatic relevance determination in the structured block: log size, which drives
    the effort, is shrunk less than the block; features that say nothing are shrunk more.
    The chosen factors are part of the config and kept by snapshots."""
    rng = np.random.default_rng(21)
    n = 80
    size = rng.integers(1, 200, size=n).astype(float)
    noise = rng.normal(size=(n, 4))
    feats: list[dict[str, Any]] = [
        {"size": float(size[i]), **{f"x{j}": float(noise[i, j]) for j in range(4)}}
        for i in range(n)
    ]
    efforts = np.exp(0.3 + 0.9 * np.log(size) + rng.normal(0, 0.3, n))
    ids = [f"S-{i}" for i in range(n)]
    est = Estimator(SMALL)
    est.learn_many(ids, [""] * n, [""] * n, feats, efforts)
    refitted = est.refit()
    cfg = refitted.config
    scales = np.array(cfg.prior_meta_scales)
    assert scales.shape == (cfg.text_start - 1,)
    slot = {name: 1 + i for i, name in enumerate(refitted._features.scaler.names)}
    assert scales[slot["size"] - 1] > 1.0
    assert all(scales[slot[f"x{j}"] - 1] < 1.0 for j in range(4))
    # the refitted posterior is the config's prior conditioned on the stored rows
    fresh = prior_model(cfg)
    fresh.update(*refitted._items.rows(np.arange(n)), np.log(efforts), np.ones(n))
    np.testing.assert_allclose(refitted._model.mean_, fresh.mean_, rtol=1e-6, atol=1e-9)
    restored = Estimator.from_state(_unpack(_pack(refitted.to_state())))
    assert restored.config == cfg
    # an older snapshot, without the factors, still loads (as a block prior)
    old = {k: v for k, v in refitted.to_state().items() if k != "config.prior_meta_scales"}
    assert Estimator.from_state(old).config.prior_meta_scales == ()
    with pytest.raises(ValueError, match="prior_meta_scales"):
        EstimatorConfig(dim=256, meta_width=32, prior_meta_scales=(1.0, 2.0))


def test_refit_job_refits_the_snapshot_taken_when_it_was_made() -> None:
    ids, titles, descs, feats, efforts = synthetic(160, 10)
    est = Estimator(SMALL)
    est.learn_many(ids[:120], titles[:120], descs[:120], feats[:120], efforts[:120])
    est.learn(ids[3], titles[3], descs[3], feats[3], 2.0 * efforts[3])  # a replaced actual
    job = est.refit_job()
    assert est._items.n_rows == 121  # the model in use is not compacted (nor its index rebuilt)
    direct = est.refit()
    # the model goes on learning (new items, a replaced one) before the job runs
    est.learn_many(ids[120:], titles[120:], descs[120:], feats[120:], efforts[120:])
    est.learn(ids[5], titles[5], descs[5], feats[5], 3.0 * efforts[5])
    refitted = job()
    assert refitted.n_observations == direct.n_observations == 120
    assert refitted.config == direct.config
    np.testing.assert_allclose(refitted._model.mean_, direct._model.mean_, rtol=1e-9, atol=1e-12)
    predictions_equal(
        refitted.predict_many(titles[120:130], descs[120:130], feats[120:130], Q),
        direct.predict_many(titles[120:130], descs[120:130], feats[120:130], Q),
        rtol=1e-9,
    )
    assert est.n_observations == 160  # the original kept everything it learned


def test_refit_chooses_the_number_of_analogies_by_leave_one_out_error() -> None:
    from kernels.refit import ANALOGY_K_GRID

    rng = np.random.default_rng(12)
    n = 300
    ids = [f"K-{i}" for i in range(n)]
    feats: list[dict[str, Any]] = [{} for _ in range(n)]
    # near-duplicates: items come in trios of identical text and effort, so the closest
    # few analogies say it all
    groups = rng.permutation(np.repeat(np.arange(n // 3), 3))
    titles = [f"component{g} module{g} feature{g}" for g in groups]
    trio = np.exp(rng.normal(1.0, 0.8, size=n // 3))[groups]
    est = Estimator(SMALL)
    est.learn_many(ids, titles, [""] * n, feats, trio)
    few = est.refit().config.analogy_k
    # noise: the text says nothing about the effort, so many analogies average it out
    words = [" ".join(rng.choice(WORDS, size=4)) for _ in range(n)]
    noise = np.exp(rng.normal(1.0, 0.8, size=n))
    est = Estimator(SMALL)
    est.learn_many(ids, words, [""] * n, feats, noise)
    many = est.refit()
    assert few == min(ANALOGY_K_GRID) < many.config.analogy_k
    assert few in ANALOGY_K_GRID and many.config.analogy_k in ANALOGY_K_GRID
    # the choice is kept by snapshots and used by estimates
    restored = Estimator.from_state(many.to_state())
    assert restored.config.analogy_k == many.config.analogy_k
    predictions_equal(
        restored.predict_many(words[:5], [""] * 5, feats[:5], Q),
        many.predict_many(words[:5], [""] * 5, feats[:5], Q),
    )


def _with_refits(snapshots: list[int], n: int, chunk: int) -> Estimator:
    """Learn ``n`` synthetic items ``chunk`` at a time, refitting from the history at each
    of ``snapshots`` (the refit swapped in at once, then learning goes on)."""
    ids, titles, descs, feats, efforts = synthetic(n, 3)
    est = Estimator(SMALL)
    cuts = sorted({*snapshots, *range(0, n, chunk), n})
    for lo, hi in pairwise(cuts):
        if lo in snapshots:
            est = est.refit_job()()
        est.learn_many(ids[lo:hi], titles[lo:hi], descs[lo:hi], feats[lo:hi], efforts[lo:hi])
    return est


def test_a_refit_depends_only_on_the_history_it_is_taken_from() -> None:
    """Two models whose last refit was taken at the same point of the same history answer
    alike, whatever their earlier refits and however their actuals were batched: so a model
    version naming the last refit's log prefix names one model."""
    a = _with_refits([20, 40], 60, 1)
    b = _with_refits([26, 40], 60, 7)
    c = _with_refits([40], 60, 60)
    _, q_t, q_d, q_f, _ = synthetic(15, 1)
    for other in (b, c):
        predictions_equal(a.predict_many(q_t, q_d, q_f, Q), other.predict_many(q_t, q_d, q_f, Q),
                          rtol=1e-9)
