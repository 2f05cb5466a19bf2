"""Explanations: the batch computation of drivers matches the row-by-row reference."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import Estimator, Predictions
from kernels.explanations import analogy_columns, drivers_many, drivers_of
from tests.kernels.test_estimator import SMALL, synthetic


def _fitted() -> Estimator:
    ids, titles, descs, feats, efforts = synthetic(300, 3)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    return est


def _rows(est: Estimator, feats: list[dict]) -> object:
    n = len(feats)
    return est._features.transform([f"crash parser {i}" for i in range(n)], ["ui api"] * n,
                                   feats, learn=False, with_labels=True)


def _assert_same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert [name for name, _ in x] == [name for name, _ in y]
        np.testing.assert_allclose([c for _, c in x], [c for _, c in y], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_drivers", [1, 3, 5, 40])
def test_batch_drivers_equal_the_row_by_row_reference(n_drivers: int) -> None:
    est = _fitted()
    rng = np.random.default_rng(0)
    feats = []
    for i in range(64):  # numbers, missing values, unknown columns, categories, nothing
        f: dict = {}
        if i % 3:
            f["size"] = float(rng.integers(1, 40)) if i % 5 else None
        if i % 4:
            f["team"] = ["web", "core", "infra", "new"][i % 4]
        if i % 7 == 0:
            f["priority"] = "high"
        feats.append(f)
    rows = _rows(est, feats)
    coef, start = est._model.mean_, est.config.text_start
    ref = [drivers_of(rows, i, coef, start, n_drivers) for i in range(64)]
    _assert_same(drivers_many(rows, coef, start, n_drivers), ref)
    assert any(len(r) == min(n_drivers, 3) for r in ref)  # size, team and text at most


def test_labels_that_add_up_take_the_reference_path() -> None:
    # A category token spelled like a numeric column's label (a column named "team=web"
    # beside the category team=web): drivers_of adds the two up.
    est = _fitted()
    feats = [{"size": 3.0, "team=web": float(i)} for i in range(10)] + [
        {"team": "web", "team=web": 20.0}]
    est.learn_many([f"x{i}" for i in range(len(feats))], [""] * len(feats),
                   [""] * len(feats), feats, np.full(len(feats), 2.0))
    rows = _rows(est, feats)
    coef, start = est._model.mean_, est.config.text_start
    ref = [drivers_of(rows, i, coef, start, 5) for i in range(len(feats))]
    assert [label for label, _, _ in rows.labels[-1]].count("team=web") == 2
    _assert_same(drivers_many(rows, coef, start, 5), ref)


def test_no_drivers_asked_and_empty_batches() -> None:
    est = _fitted()
    rows = _rows(est, [{"size": 2.0}] * 12)
    assert drivers_many(rows, est._model.mean_, est.config.text_start, 0) == [()] * 12


def test_analogies_are_clipped_and_skip_missing_neighbours() -> None:
    est = _fitted()
    items = est._items
    rows = np.array([[0, 1, -1], [2, -1, -1]], dtype=np.int64)
    sims = np.array([[1.0000001, 0.5, 0.0], [-1.5, 0.0, 0.0]])
    got_rows, efforts, clipped = analogy_columns(items, rows, sims, 3)
    assert clipped.max() == 1.0 and clipped.min() == -1.0
    preds = Predictions(
        quantiles=np.ones((2, 1)), medians=np.ones(2), analogy_rows=got_rows,
        analogy_efforts=efforts, analogy_similarities=clipped, analogy_ids=items.ids,
        analogy_titles=items.titles, drivers=[(), ()],
    )
    found = [p.analogies for p in preds.to_list()]
    assert [len(f) for f in found] == [2, 1]
    assert found[0][0].similarity == 1.0 and found[1][0].similarity == -1.0
    assert found[0][1].item_id == items.ids[1] and found[0][1].title == items.titles[1]
    assert found[0][1].effort == pytest.approx(float(items.efforts[1]))
    assert isinstance(found[0][1].effort, float)


def test_columns_and_the_list_of_predictions_agree() -> None:
    est = _fitted()
    titles = ["api export", "billing report", "login page"]
    feats = [{"size": 3.0, "team": "web"}, {}, {"priority": "high"}]
    levels = np.array([0.1, 0.5, 0.9])
    cols = est.predict_columns(titles, [""] * 3, feats, levels)
    listed = est.predict_many(titles, [""] * 3, feats, levels)
    assert len(cols) == 3
    for i, p in enumerate(listed):
        assert p.quantiles.tolist() == cols.quantiles[i].tolist()
        assert p.median == cols.medians[i]
        assert p.drivers == cols.drivers[i]
        live = cols.analogy_rows[i] >= 0
        assert [a.item_id for a in p.analogies] == [
            cols.analogy_ids[r] for r in cols.analogy_rows[i][live]]
        assert [a.similarity for a in p.analogies] == cols.analogy_similarities[i][live].tolist()


def test_a_feature_named_text_stays_apart_from_the_text_driver() -> None:
    ids, titles, descs, _, efforts = synthetic(200, 9)
    size = np.random.default_rng(1).lognormal(1, 1, 200)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, [{"text": float(s)} for s in size], efforts * size)
    rows = _rows(est, [{"text": 50.0}] * 9)
    coef, start = est._model.mean_, est.config.text_start
    alone = drivers_of(rows, 0, coef, start, 5)
    assert [name for name, _ in alone].count("text") == 2  # the feature, and the hashed text
    _assert_same([drivers_of(rows, i, coef, start, 5) for i in range(9)],
                 drivers_many(rows, coef, start, 5))
