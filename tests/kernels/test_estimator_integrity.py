"""The estimator keeps itself consistent: corrections after a restore or refit, batches that
cross a compaction, failures part way, and snapshots that do not hold what a model holds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from kernels import Estimator, EstimatorConfig, ModelStateError, PublicPrior
from kernels.running_median import RunningMedian, exact_logs
from node import model_calls
from node.event_check import event_problem
from tests.kernels.test_estimator import SMALL, Q, predictions_equal, synthetic

#: Efforts whose numpy (vectorised) log differs in the last bit from math.log on CPUs with
#: AVX-512; with them a restored median could not find a corrected actual's old value.
AWKWARD = [9170.0, 19143.0, 94869.0, 1.05, 40.4, 73.72]


def test_exact_logs_are_math_log_bit_for_bit() -> None:
    values = np.concatenate([AWKWARD, np.random.default_rng(0).uniform(1e-6, 1e9, 5000)])
    assert [math.log(v) for v in values] == exact_logs(values).tolist()


@pytest.mark.parametrize("how", ["restored", "refitted"])
def test_every_actual_can_be_corrected_after_a_restore_or_a_refit(how: str) -> None:
    rng = np.random.default_rng(1)
    efforts = np.concatenate([AWKWARD, rng.uniform(0.5, 5e4, 2000)])
    ids = [f"i{k}" for k in range(efforts.shape[0])]
    titles = [f"task {k % 37}" for k in range(efforts.shape[0])]
    est = Estimator(SMALL)
    est.learn_many(ids, titles, [""] * len(ids), [{}] * len(ids), efforts)
    est = Estimator.from_state(est.to_state()) if how == "restored" else est.refit()
    corrected = efforts * 0.5
    est.learn_many(ids, titles, [""] * len(ids), [{}] * len(ids), corrected)
    assert est.n_observations == len(ids)
    assert np.array_equal(est._median.sorted, np.sort(exact_logs(corrected)))


def test_a_batch_compacts_where_learning_one_at_a_time_would() -> None:
    ids, titles, descs, feats, efforts = synthetic(300, 3)
    def base() -> Estimator:
        est = Estimator(SMALL)
        est.learn_many(ids, titles, descs, feats, efforts)
        for j in range(70):  # 70 retired rows: the store compacts past 75
            est.learn(ids[j], titles[j], descs[j], feats[j], float(efforts[j]) + 1.0)
        return est
    batch = (ids[100:140], titles[100:140], descs[100:140], feats[100:140], efforts[100:140] * 2)
    together, one_by_one = base(), base()
    together.learn_many(*batch)
    for k in range(40):
        one_by_one.learn(*(part[k] for part in batch))
    assert together._items.n_rows == one_by_one._items.n_rows == 300 + 34  # compacted after 6
    assert together._items.ids == one_by_one._items.ids
    _, q_t, q_d, q_f, _ = synthetic(20, 4)
    predictions_equal(together.predict_many(q_t, q_d, q_f, Q),
                      one_by_one.predict_many(q_t, q_d, q_f, Q))


def test_a_failure_part_way_through_learning_is_not_a_value_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids, titles, descs, feats, efforts = synthetic(30, 5)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)

    def broken(self: RunningMedian, value: float) -> None:
        raise ValueError(f"{value} is not held")

    monkeypatch.setattr(RunningMedian, "remove", broken)
    with pytest.raises(ModelStateError, match="inconsistent: ValueError"):
        est.learn(ids[0], titles[0], descs[0], feats[0], 99.0)
    # A node does not retry such a batch item by item (each would look learned already):
    # the error reaches the tenant actor, whose restart rebuilds the model.
    batch: list[model_calls.Learn] = [(ids[1], {"title": titles[1]}, 77.0)]
    with pytest.raises(ModelStateError):
        model_calls.learn(est, batch)


def test_invalid_input_still_changes_nothing() -> None:
    ids, titles, descs, feats, efforts = synthetic(30, 6)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    before = est.to_state()
    with pytest.raises(ValueError, match="non-empty"):
        est.learn("", "a title", "", {}, 3.0)
    with pytest.raises(ValueError, match="unsupported value"):
        est.learn_many(["x", "y"], ["a", "b"], ["", ""], [{}, {"size": [1]}], [1.0, 2.0])
    after = est.to_state()
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, after[key], equal_nan=value.dtype.kind == "f"), key
        else:
            assert value == after[key], key


def test_an_event_with_an_empty_item_id_is_malformed() -> None:
    assert event_problem({"kind": "actual", "data": {"id": "", "effort": 3.0}}) is not None
    assert event_problem({"kind": "actual", "data": {"id": "a", "effort": 3.0}}) is None


def _broken(state: dict[str, Any], key: str, change: Any) -> dict[str, Any]:
    value = np.array(state[key], copy=True)
    change(value)
    return {**state, key: value}


def _set(index: Any, to: Any) -> Any:
    def change(a: np.ndarray) -> None:
        a[index] = to
    return change


@pytest.mark.parametrize(("key", "change", "message"), [
    ("items.indptr", _set(3, 10**6), "row offsets"),
    ("items.indptr", _set(-1, 0), "row offsets"),
    ("items.indices", _set(5, 2000), "coordinates outside"),
    ("items.values", _set(0, np.nan), "finite"),
    ("items.efforts", _set(0, -1.0), "efforts"),
    ("items.efforts", _set(0, np.nan), "efforts"),
    ("model.cov", _set((0, 0), np.nan), "finite"),
    ("model.mean", _set(0, np.inf), "finite"),
    ("calibration.ys", _set(0, np.nan), "finite"),
    ("scaler.mean", _set(0, np.nan), "finite"),
])
def test_a_snapshot_with_values_no_model_holds_is_refused(key: str, change: Any,
                                                          message: str) -> None:
    ids, titles, descs, feats, efforts = synthetic(40, 7)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    state = est.to_state()
    with pytest.raises(ValueError, match=message):
        Estimator.from_state(_broken(state, key, change))


@pytest.mark.parametrize(("key", "value"), [
    ("calibration.inflation", math.nan), ("calibration.inflation", -5.0),
    ("model.a", 0.0), ("scaler.names", [1]), ("scaler.names", "size"),
])
def test_a_snapshot_with_bad_scalars_is_refused(key: str, value: Any) -> None:
    ids, titles, descs, feats, efforts = synthetic(40, 8)
    est = Estimator(SMALL)
    est.learn_many(ids, titles, descs, feats, efforts)
    with pytest.raises(ValueError):
        Estimator.from_state({**est.to_state(), key: value})


def test_a_row_with_unsorted_coordinates_is_refused() -> None:
    est = Estimator(SMALL)
    est.learn("a", "one two three four", "", {}, 3.0)
    state = est.to_state()
    indices = np.array(state["items.indices"], copy=True)
    indices[[1, 2]] = indices[[2, 1]]
    with pytest.raises(ValueError, match="not sorted"):
        Estimator.from_state({**state, "items.indices": indices})


@pytest.mark.parametrize("change", [
    {"log_median": 800.0}, {"noise_scale": 1e200}, {"bias_var": 1e308},
    {"noise_strength": 1e-320},
])
def test_priors_the_model_cannot_compute_with_are_refused(change: dict[str, float]) -> None:
    base = dict(log_median=1.0, bias_var=1.0, noise_scale=0.7, noise_strength=2.0,
                meta_var=0.5, text_var=0.1)
    with pytest.raises(ValueError, match="prior"):
        PublicPrior(**{**base, **change})


@pytest.mark.parametrize("change", [
    {"prior_noise_scale": 1e200}, {"prior_median": 1e308}, {"prior_noise_strength": 1e-9},
])
def test_configs_the_model_cannot_compute_with_are_refused(change: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="prior"):
        EstimatorConfig(**change)
