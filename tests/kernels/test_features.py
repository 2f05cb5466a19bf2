"""Feature layout: bias, numeric slots, hashed tokens, text."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.config import EstimatorConfig
from kernels.features import Featurizer
from kernels.hashing import encode_texts, hash_texts, hash_tokens

CFG = EstimatorConfig(dim=256, numeric_slots=2, meta_width=31)


def token_position(tok: str) -> tuple[int, float]:
    b, s = hash_tokens(*encode_texts([tok]), CFG.meta_width, CFG.hash_seed)
    return int(b[0]) + CFG.meta_start, float(s[0])


def dense_row(rows, i: int) -> np.ndarray:
    out = np.zeros(CFG.dim)
    idx, val = rows.row(i)
    out[idx] = val
    return out


def test_layout_of_one_item() -> None:
    fz = Featurizer(CFG)
    items = [{"size": 10, "team": "web"}, {"size": 100, "team": None, "points": 3.0}]
    rows = fz.transform(["Add login", "Fix crash"], ["", "in parser"], items, learn=True)
    x = dense_row(rows, 1)
    assert x[0] == 1.0  # bias
    # size: second value of the column, standardised with both values -> +1
    assert x[1] == pytest.approx(1.0)
    # points: first value of its column -> 0, so absent from the sparse row
    assert x[2] == 0.0
    pos, sign = token_position("team=<missing>")
    assert x[pos] == sign
    text = hash_texts(*encode_texts(["Fix crash\nin parser"]), CFG.text_start,
                      CFG.dim - CFG.text_start, CFG.hash_seed, CFG.word_ngrams,
                      CFG.char_ngram_min, CFG.char_ngram_max, CFG.char_ngram_bytes,
                      CFG.word_weight, CFG.char_weight)  # fmt: skip
    np.testing.assert_allclose(x[CFG.text_start :][text[1] - CFG.text_start], text[2], rtol=1e-6)
    assert np.all(rows.values == rows.values.astype(np.float32))
    for i in range(2):
        assert np.all(np.diff(rows.row(i)[0]) > 0)


def test_known_numeric_feature_missing_is_taken_at_its_mean_with_no_indicator() -> None:
    fz = Featurizer(CFG)
    fz.transform(["a", "b"], ["", ""], [{"size": 1}, {"size": 4}], learn=True)
    rows = fz.transform(["", ""], ["", ""], [{}, {"size": None}], learn=False, with_labels=True)
    bias_only = np.zeros(CFG.dim)
    bias_only[0] = 1.0
    for i in range(2):
        np.testing.assert_array_equal(dense_row(rows, i), bias_only)
        assert rows.labels[i] == []


def test_overflow_numeric_features_are_hashed_and_unknown_ones_skipped_at_prediction() -> None:
    fz = Featurizer(CFG)
    items = [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 2.0, "b": 5.0, "c": 9.0}]
    rows = fz.transform(["", ""], ["", ""], items, learn=True, with_labels=True)
    pos, sign = token_position("c")
    labels = {name: (p, v) for name, p, v in rows.labels[1]}
    assert labels["a"][0] == 1 and labels["b"][0] == 2 and labels["c"][0] == pos
    assert dense_row(rows, 1)[pos] == pytest.approx(sign * 1.0)
    q = fz.transform([""], [""], [{"never_seen": 5.0}], learn=False)
    want = np.zeros(CFG.dim)
    want[0] = 1.0  # a, b and c at their means; never_seen left out
    np.testing.assert_array_equal(dense_row(q, 0), want)


def test_batch_learning_equals_one_at_a_time() -> None:
    items = [{"x": 1.0}, {"y": "k"}, {"x": None, "z": 2}, {"x": 5.0, "z": None}, {}, {"z": 7}]
    titles = [f"title {i}" for i in range(6)]
    a, b = Featurizer(CFG), Featurizer(CFG)
    batch = a.transform(titles, [""] * 6, items, learn=True)
    for i in range(6):
        single = b.transform(titles[i : i + 1], [""], items[i : i + 1], learn=True)
        np.testing.assert_array_equal(single.row(0)[0], batch.row(i)[0])
        np.testing.assert_array_equal(single.row(0)[1], batch.row(i)[1])
    assert a.scaler.names == b.scaler.names == ["x", "z"]


def test_bad_values_are_rejected_without_side_effects() -> None:
    fz = Featurizer(CFG)
    with pytest.raises(ValueError, match="unsupported value"):
        fz.transform(["a", "b"], ["", ""], [{"n": 1.0}, {"m": [1, 2]}], learn=True)
    assert fz.scaler.names == []
    with pytest.raises(ValueError, match="same length"):
        fz.transform(["a"], [], [{}], learn=True)


def test_token_positions_through_the_cache_equal_fresh_hashing(monkeypatch) -> None:
    import kernels.features as features

    monkeypatch.setattr(features, "_TOKEN_CACHE_LIMIT", 50)  # forces clears on the way
    fz = Featurizer(EstimatorConfig())
    rng = np.random.default_rng(0)
    for _ in range(20):
        tokens = [f"team=t{int(k)}" for k in rng.integers(0, 80, size=int(rng.integers(0, 30)))]
        pos, sign = fz._known_token_positions(tokens)
        ref_pos, ref_sign = fz._token_positions(tokens)
        np.testing.assert_array_equal(pos, ref_pos)
        np.testing.assert_array_equal(sign, ref_sign)
        assert len(fz._token_cache) <= 50
