"""The per-tenant effort model: learns from finished items, predicts effort distributions.

Three component models estimate log effort, each in its own way:

0. a Bayesian linear regression over hashed features (:mod:`kernels.blr`);
1. analogies: the nearest learned items (hnswlib), similarity-weighted and adjusted for
   differences in structured features such as size (:mod:`kernels.analogy_estimate`);
2. the median of every learned actual (the naive baseline, a shrinkage target).

Every actual is first predicted by all three, out of sample, and only then learned; the
:class:`~kernels.calibration.ConformalCalibrator` turns those records into blend weights
(inverse out-of-sample error) and conformal quantiles of the blended residual. The point
estimate is the predictive median. Until enough records exist (a new tenant), the
linear model's Student-t predictive, which starts from the cold-start prior, is used.

:meth:`Estimator.refit` is the periodic background refit (see :mod:`kernels.refit`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike, NDArray

from kernels.analogy_estimate import analogy_estimates
from kernels.analogy_index import AnalogyIndex, fold_rows
from kernels.blr import BayesianLinearRegression
from kernels.calibration import ConformalCalibrator
from kernels.cold_start import PublicPrior
from kernels.config import EstimatorConfig
from kernels.discrete_scale import discrete_support, snap_quantiles
from kernels.explanations import analogy_columns, drivers_many
from kernels.features import FeatureRows, Featurizer
from kernels.item_store import ItemStore
from kernels.numeric_scaling import NumericScaler
from kernels.prediction import Prediction, Predictions
from kernels.running_median import RunningMedian, exact_logs

STATE_VERSION = 5
N_COMPONENTS = 3
_LOG_LIMIT = 700.0  # keeps exp() of extreme quantiles finite and > 0


class ModelStateError(RuntimeError):
    """Learning failed after it had begun to change the model, which is now inconsistent:
    build it again (from a snapshot and the log). Invalid input raises ValueError instead,
    before anything changes."""


def prior_model(config: EstimatorConfig) -> BayesianLinearRegression:
    """The linear model before any data: the cold-start prior of ``config``."""
    prior_mean = np.zeros(config.dim)
    prior_mean[0] = math.log(config.prior_median)
    prior_var = np.full(config.dim, config.prior_text_var)
    prior_var[0] = config.prior_bias_var
    prior_var[1 : config.text_start] = config.prior_meta_var
    if config.prior_meta_scales:
        prior_var[1 : config.text_start] *= np.array(config.prior_meta_scales)
    a0 = config.prior_noise_strength
    return BayesianLinearRegression(prior_mean, prior_var, a0, a0 * config.prior_noise_scale**2)


class Estimator:
    """A stateful effort model; see :class:`EstimatorConfig` for its prior and layout.

    ``prior`` (a :class:`~kernels.cold_start.PublicPrior` or its arrays, as loaded from a
    file) replaces the config's generic cold-start prior fields; the resulting config is
    ``self.config``, so snapshots and refits keep it. Raises ValueError on a bad prior.

    Learning the same ``item_id`` again replaces the earlier actual: its observation is
    removed from the linear model exactly (a Sherman-Morrison downdate with the very
    vector it was learned with) and from the analogies before the new one is added.
    Numeric feature scaling keeps running statistics of every value seen; a refit
    rescales all stored items with the current statistics.
    """

    #: Identifies the kind of model in model versions.
    model_name = "reckon-blend.v5"

    def __init__(
        self,
        config: EstimatorConfig | None = None,
        prior: Mapping[str, ArrayLike] | PublicPrior | None = None,
    ) -> None:
        config = config if config is not None else EstimatorConfig()
        if prior is not None:
            if not isinstance(prior, PublicPrior):
                prior = PublicPrior.from_arrays(prior)
            config = prior.apply(config)
        self.config = config
        cfg = self.config
        self._model = prior_model(cfg)
        self._features = Featurizer(cfg)
        self._items = ItemStore(first_coord=1)
        self._index = AnalogyIndex(cfg.analogy_width, cfg.hash_seed % (1 << 31), cfg.hnsw_ef)
        self._median = RunningMedian()
        self._support: NDArray[np.float64] | None = None
        self._support_stale = True
        self._calibrator = ConformalCalibrator(
            N_COMPONENTS, cfg.calibration_window, cfg.blend_power, cfg.conformal_step
        )

    @property
    def n_observations(self) -> int:
        """Distinct items whose actual effort is in the model (a replaced actual counts once)."""
        return self._items.n_live

    def learn(
        self, item_id: str, title: str, description: str, features: dict[str, Any], effort: float
    ) -> None:
        """Fold in one finished item with its actual ``effort`` (finite, > 0).

        Raises ValueError on invalid input, before anything changes.
        """
        self.learn_many(
            [item_id], [title], [description], [features], np.array([effort], dtype=float)
        )

    def learn_many(
        self,
        item_ids: Sequence[str],
        titles: Sequence[str],
        descriptions: Sequence[str],
        features: Sequence[dict[str, Any]],
        efforts: NDArray[np.float64] | Sequence[float],
    ) -> None:
        """Fold in many items; a batch of at most ``calibration_window`` items gives the
        same result as calling :meth:`learn` on each in order.

        The last ``calibration_window`` items are predicted out of sample one at a time
        before each is learned (these predictions calibrate the blend); earlier items of
        a large batch go into the linear model in one block, and so leave no calibration
        record and set the noise scale in one step. Raises ValueError on invalid
        input (mismatched lengths, an empty item id, a non-finite or non-positive effort,
        an unsupported feature value), before anything changes; :class:`ModelStateError`
        if learning fails once it has begun to change the model.
        """
        ids, title_list, desc_list, feature_list = _check_items(
            item_ids, titles, descriptions, features
        )
        effort_arr = np.asarray(efforts, dtype=np.float64)
        if effort_arr.ndim != 1 or effort_arr.shape[0] != len(ids):
            raise ValueError("efforts must be a 1-d array with one entry per item")
        if not np.all(np.isfinite(effort_arr) & (effort_arr > 0)):
            raise ValueError("every effort must be finite and > 0")
        if not ids:
            return
        raw = [_raw_features(f) for f in feature_list]  # None: refused by transform below
        keep = np.flatnonzero(~self._unchanged(ids, title_list, desc_list, raw, effort_arr))
        if keep.shape[0] < len(ids):
            if keep.shape[0] == 0:
                return
            ids, title_list, desc_list = _take(ids, keep), _take(title_list, keep), _take(
                desc_list, keep)
            feature_list, raw = _take(feature_list, keep), _take(raw, keep)
            effort_arr = effort_arr[keep]
        cuts = self._compaction_points(ids)
        if len(cuts) > 1:  # refuse a bad item of a later part before the first is learned
            self._features.transform(title_list, desc_list, feature_list, learn=False)
        split = max(0, len(ids) - self.config.calibration_window)
        start, changed = 0, False
        try:
            for end in cuts:
                part = slice(start, end)
                rows = self._features.transform(title_list[part], desc_list[part],
                                                feature_list[part], learn=True)  # fmt: skip
                changed = True  # from here on, a failure leaves the model half changed
                new_rows, replaced = self._items.append(
                    ids[part], title_list[part], effort_arr[part], rows,
                    [r or "{}" for r in raw[part]])  # fmt: skip
                block = max(0, min(split, end) - start)
                self._fold(new_rows[:block], replaced[:block], trace=False)
                for i in range(block, end - start):
                    self._fold(new_rows[i : i + 1], replaced[i : i + 1], trace=True)
                if self._items.n_rows - self._items.n_live > _compact_after(self._items.n_live):
                    self._compact()
                start = end
        except Exception as e:
            if not changed:
                raise
            raise ModelStateError(f"learning failed part way and left the model "
                                  f"inconsistent: {type(e).__name__}: {e}") from e

    def _compaction_points(self, ids: list[str]) -> list[int]:
        """Where learning ``ids`` one at a time would compact the item store (after which
        entries), and the end: a batch compacts at the same points, so that it builds the
        same analogy index as one item at a time."""
        items = self._items
        retired, live = items.n_rows - items.n_live, items.n_live
        seen: set[str] = set()
        points = []
        for i, item_id in enumerate(ids):
            if item_id in seen or items.row_of(item_id) >= 0:
                retired += 1
            else:
                live += 1
                seen.add(item_id)
            if retired > _compact_after(live) and i + 1 < len(ids):
                points.append(i + 1)
                retired = 0
        return [*points, len(ids)]

    def _unchanged(self, ids: list[str], titles: list[str], descriptions: list[str],
                   raw: list[str | None], efforts: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which items the model would learn exactly as it holds them for their id: the
        same title, features and actual, and the same hashed text (the description is kept
        only that way). Learning them again would count the same evidence twice, so a
        client that reports an actual again changes nothing. An entry is compared with
        the previous entry of its id in the batch, or else with the stored row, by the same
        test, so a batch decides as one item at a time would."""
        same = np.zeros(len(ids), dtype=np.bool_)
        items = self._items
        latest: dict[str, int] = {}
        pairs: list[tuple[int, int, int]] = []  # (entry, earlier entry or -1, stored row or -1)
        for i, item_id in enumerate(ids):
            j = latest.get(item_id, -1)
            latest[item_id] = i
            if raw[i] is None:
                continue
            if j >= 0:
                if (titles[i], raw[i], efforts[i]) == (titles[j], raw[j], efforts[j]):
                    pairs.append((i, j, -1))
                continue
            r = items.row_of(item_id)
            if r >= 0 and (titles[i], raw[i], efforts[i]) == (
                    items.titles[r], items.features[r], items.efforts[r]):
                pairs.append((i, -1, r))
        if not pairs:
            return same
        entries = sorted({i for i, _, _ in pairs} | {j for _, j, _ in pairs if j >= 0})
        at = {k: n for n, k in enumerate(entries)}
        new = self._features.transform([titles[k] for k in entries],
                                       [descriptions[k] for k in entries],
                                       [{} for _ in entries], learn=False)
        stored_rows = [r for _, _, r in pairs if r >= 0]
        old_ptr, old_idx, old_val = items.rows(np.array(stored_rows, dtype=np.int64))
        start = self.config.text_start

        def text(indptr: NDArray[np.int64], indices: NDArray[Any], values: NDArray[Any],
                 n: int) -> tuple[NDArray[Any], NDArray[np.float32]]:
            idx, val = indices[indptr[n] : indptr[n + 1]], values[indptr[n] : indptr[n + 1]]
            keep = idx >= start
            return idx[keep].astype(np.int64), val[keep].astype(np.float32)

        k = 0
        for i, j, _ in pairs:
            a = text(new.indptr, new.indices, new.values, at[i])
            if j >= 0:
                b = text(new.indptr, new.indices, new.values, at[j])
            else:
                b = text(old_ptr, old_idx, old_val, k)
                k += 1
            same[i] = np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        return same

    def _fold(self, new_rows: NDArray[np.int64], replaced: NDArray[np.int64], trace: bool) -> None:
        """Learn stored rows (unlearning the rows they replace); with ``trace`` (one item)
        record its out-of-sample component predictions first."""
        if new_rows.shape[0] == 0:
            return
        self._support_stale = True
        items = self._items
        order = np.stack([replaced, new_rows], axis=1).ravel()
        weights = np.tile(np.array([-1.0, 1.0]), new_rows.shape[0])
        weights[::2][replaced < 0] = 0.0
        order, weights = order[weights != 0], weights[weights != 0]
        indptr, indices, values = items.rows(order)
        logs = np.log(items.efforts[order])
        comps = None
        if trace:
            for old in replaced[replaced >= 0]:
                self._forget(int(old))
            comps = self._components(indptr[-2:] - indptr[-2], indices[indptr[-2] :],
                                     values[indptr[-2] :], linear=False)[0]  # fmt: skip
        fits, _ = self._model.update(
            indptr, indices, values, logs, weights, trace_from=order.shape[0] - 1 if trace else None
        )
        if comps is not None:
            comps[0] = fits[-1]
            self._calibrator.add(float(logs[-1]), comps, items.ids[int(new_rows[-1])])
        vectors = fold_rows(*items.rows(new_rows), self.config.text_start,
                            self.config.analogy_width)  # fmt: skip
        self._index.add(vectors, new_rows)
        for r in new_rows:
            self._median.add(math.log(float(items.efforts[r])))
        if not trace:  # a replaced row may be one of this batch: forget it once it is in
            for old in replaced[replaced >= 0]:
                self._forget(int(old))

    def _forget(self, row: int) -> None:
        self._calibrator.drop(self._items.ids[row])
        self._index.delete(row)
        self._median.remove(math.log(float(self._items.efforts[row])))

    def _compact(self) -> None:
        self._items.compact()
        self._rebuild_index()

    def _rebuild_index(self) -> None:
        items = self._items
        live = np.flatnonzero(items.alive)
        vectors = fold_rows(*items.rows(live), self.config.text_start, self.config.analogy_width)
        self._index.rebuild(vectors, live)

    def _neighbours(
        self, indptr: NDArray[np.int64], indices: NDArray[np.int32], values: NDArray[np.float64],
        k: int,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:  # fmt: skip
        """Nearest live rows of query rows (``k`` capped by the live count)."""
        k = min(k, self._index.n_live)
        vectors = fold_rows(indptr, indices, values, self.config.text_start,
                            self.config.analogy_width)  # fmt: skip
        return self._index.query(vectors, k)

    def _components(
        self,
        indptr: NDArray[np.int64],
        indices: NDArray[np.int32],
        values: NDArray[np.float64],
        neighbours: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None,
        linear: bool = True,
    ) -> NDArray[np.float64]:
        """``(n, 3)`` log-effort predictions of the component models (NaN = unavailable;
        without ``linear`` the linear model's column is left NaN for the caller to fill)."""
        cfg = self.config
        n = indptr.shape[0] - 1
        out = np.full((n, N_COMPONENTS), np.nan)
        if linear:
            out[:, 0] = self._model.predict_mean(indptr, indices, values)
        if neighbours is None:
            neighbours = self._neighbours(indptr, indices, values, cfg.analogy_k)
        rows, sims = neighbours
        if rows.shape[1] > 0:
            items = self._items
            out[:, 1] = analogy_estimates(
                rows, sims, cfg.analogy_k, items.log_efforts, indptr, indices, values,
                items.indptr, items.indices, items.values, self._model.mean_[None, :], 1,
                cfg.text_start, cfg.analogy_power,
            )  # fmt: skip
        out[:, 2] = self._median.median()
        return out

    def predict(
        self, title: str, description: str, features: dict[str, Any], quantiles: NDArray[np.float64]
    ) -> Prediction:
        """Predictive distribution of one item's effort at the given quantile levels.

        Raises ValueError if a quantile level is outside (0, 1) or an input is invalid.
        """
        return self.predict_many([title], [description], [features], quantiles)[0]

    def predict_many(
        self,
        titles: Sequence[str],
        descriptions: Sequence[str],
        features: Sequence[dict[str, Any]],
        quantiles: NDArray[np.float64],
    ) -> list[Prediction]:
        """Predictions for many items at once (see :meth:`predict`)."""
        return self.predict_columns(titles, descriptions, features, quantiles).to_list()

    def predict_columns(
        self,
        titles: Sequence[str],
        descriptions: Sequence[str],
        features: Sequence[dict[str, Any]],
        quantiles: NDArray[np.float64],
    ) -> Predictions:
        """:meth:`predict_many` in columns, without an object per item and analogy."""
        levels = np.asarray(quantiles, dtype=np.float64)
        if levels.ndim != 1 or not np.all((levels > 0) & (levels < 1)):
            raise ValueError("quantiles must be a 1-d array of levels strictly between 0 and 1")
        _, title_list, desc_list, feature_list = _check_items(None, titles, descriptions, features)
        cfg = self.config
        rows = self._features.transform(
            title_list, desc_list, feature_list, learn=False, with_labels=cfg.n_drivers > 0
        )
        neighbours = self._neighbours(
            rows.indptr, rows.indices, rows.values, max(cfg.analogy_k, cfg.n_analogies)
        )
        log_q, log_med = self._log_quantiles(rows, neighbours, levels)
        q_values = np.exp(np.clip(log_q, -_LOG_LIMIT, _LOG_LIMIT))
        medians = np.exp(np.clip(log_med, -_LOG_LIMIT, _LOG_LIMIT))
        support = self._discrete_support()
        if support is not None:
            q_values, medians = snap_quantiles(q_values, medians, levels, support)
        items = self._items
        analogy_rows, efforts, sims = analogy_columns(items, *neighbours, cfg.n_analogies)
        return Predictions(
            quantiles=q_values, medians=medians, analogy_rows=analogy_rows,
            analogy_efforts=efforts, analogy_similarities=sims, analogy_ids=items.ids,
            analogy_titles=items.titles,
            drivers=drivers_many(rows, self._model.mean_, cfg.text_start, cfg.n_drivers),
        )  # fmt: skip

    def _discrete_support(self) -> NDArray[np.float64] | None:
        """The tenant's effort scale if its actuals are discrete (see
        :mod:`kernels.discrete_scale`), else None; recomputed only after learning."""
        if self._support_stale:
            items = self._items
            live = np.sort(items.efforts[items.alive])
            self._support = discrete_support(live, self.config.discrete_max_levels)
            self._support_stale = False
        return self._support

    def _log_quantiles(
        self,
        rows: FeatureRows,
        neighbours: tuple[NDArray[np.int64], NDArray[np.float64]],
        levels: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Log-scale quantiles ``(n, len(levels))`` and medians ``(n,)``."""
        if not self._calibrator.ready:
            loc, scale, dof = self._model.predict(rows.indptr, rows.indices, rows.values)
            t_levels = scipy.stats.t.ppf(levels, dof)  # increasing, so the order is kept
            return loc[:, None] + scale[:, None] * t_levels[None, :], loc
        comps = self._components(rows.indptr, rows.indices, rows.values, neighbours)
        centre = self._calibrator.blend(comps)
        offsets = self._calibrator.residual_quantiles(np.append(levels, 0.5))
        return centre[:, None] + offsets[None, :-1], centre + offsets[-1]

    def refit(self) -> Estimator:
        """A new estimator refitted on everything learned (see :mod:`kernels.refit`).

        ``self`` is not changed, so the refit can run off the request path while this
        model keeps serving; the caller swaps the result in (and replays any actuals
        learned meanwhile). The result's config carries the chosen prior variances.
        """
        from kernels.refit import refit_estimator

        return refit_estimator(self)

    def refit_job(self) -> Callable[[], Estimator]:
        """:meth:`refit` as a function to call later, e.g. on a worker thread.

        The items and numeric statistics it refits from are copied now, so this model
        may go on learning and serving while the job runs; the caller swaps the result
        in and replays the actuals learned since this call.
        """
        from kernels.refit import refit_estimator

        snapshot = Estimator(self.config)
        snapshot._items = ItemStore.from_state(self._items.to_state(), first_coord=1)
        snapshot._features = Featurizer(
            self.config, NumericScaler.from_state(self._features.scaler.to_state())
        )
        return functools.partial(refit_estimator, snapshot)

    def to_state(self, with_index: bool = False) -> dict[str, Any]:
        """A msgpack-friendly snapshot: a flat dict of numpy arrays, ints, floats, strs and
        lists of str, sharing nothing this model changes later; the model itself is left
        as it is (so it may be a model in use). :meth:`from_state` restores a model that
        predicts identically, but for analogies that an approximate search finds in
        another graph: the analogy index is rebuilt from the stored vectors, unless
        ``with_index`` saves its graph too (``index.*`` keys: about 1.2 KB an item, and no
        rebuild on restore). The graph is saved only while no learned item has been
        replaced since the index was last rebuilt (the items are saved without the
        replaced ones, which the graph still holds)."""
        state: dict[str, Any] = {"version": STATE_VERSION}
        for f in dataclasses.fields(self.config):
            state[f"config.{f.name}"] = getattr(self.config, f.name)
        state["config.prior_meta_scales"] = np.array(self.config.prior_meta_scales)
        for prefix, part in (
            ("model", self._model.to_state()),
            ("scaler", self._features.scaler.to_state()),
            ("items", self._items.to_state()),
            ("calibration", self._calibrator.to_state()),
        ):
            for key, value in part.items():
                state[f"{prefix}.{key}"] = value
        if with_index and self._items.n_live == self._items.n_rows:
            for key, value in self._index.graph_state().items():
                state[f"index.{key}"] = value
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Estimator:
        """Rebuild an estimator from :meth:`to_state` output.

        Raises ValueError if the state is of another version or malformed.
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported estimator state version {state.get('version')!r}")
        try:
            settings: dict[str, Any] = {}
            for f in dataclasses.fields(EstimatorConfig):
                if f.name == "prior_meta_scales":  # absent from snapshots before it existed
                    raw = state.get(f"config.{f.name}", ())
                    settings[f.name] = tuple(float(v) for v in np.asarray(raw).reshape(-1))
                    continue
                cast = int if f.type in (int, "int") else float
                settings[f.name] = cast(state[f"config.{f.name}"])
            config = EstimatorConfig(**settings)
            parts: dict[str, dict[str, Any]] = {
                "model": {}, "scaler": {}, "items": {}, "calibration": {}, "index": {}
            }  # fmt: skip
            for key, value in state.items():
                prefix, _, rest = key.partition(".")
                if prefix in parts:
                    parts[prefix][rest] = value
            est = cls(config)
            est._model = BayesianLinearRegression.from_state(parts["model"])
            est._features = Featurizer(config, NumericScaler.from_state(parts["scaler"]))
            est._items = ItemStore.from_state(parts["items"], first_coord=1, dim=config.dim)
            est._calibrator.load_state(parts["calibration"])
        except (KeyError, TypeError, OverflowError) as exc:
            raise ValueError(f"malformed estimator state: {exc}") from exc
        if est._model.dim != config.dim:
            raise ValueError("malformed estimator state: model size does not match config")
        if parts["index"]:
            est._load_index(parts["index"])
        else:
            est._rebuild_index()
        est._median = RunningMedian(exact_logs(est._items.efforts))
        return est

    def _load_index(self, graph: dict[str, Any]) -> None:
        """The analogy index from a saved graph of every stored item (ValueError if it is
        not that)."""
        items = self._items
        if items.n_live != items.n_rows:
            raise ValueError("malformed estimator state: a saved index needs compact items")
        if items.n_rows == 0:
            self._rebuild_index()
            return
        live = np.arange(items.n_rows, dtype=np.int64)
        vectors = fold_rows(*items.rows(live), self.config.text_start, self.config.analogy_width)
        try:
            self._index.load_graph(graph, vectors, live)
        except ValueError as e:
            raise ValueError(f"malformed estimator state: {e}") from e


def _compact_after(live: int) -> int:
    """Retired rows beyond which the item store is compacted (and the index rebuilt)."""
    return max(64, live // 4)


def _take(values: list[Any], keep: NDArray[np.int64]) -> list[Any]:
    return [values[i] for i in keep]


def _json_number(value: Any) -> float:
    if isinstance(value, (np.integer, np.floating)):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not a feature value")


def _raw_features(features: dict[str, Any]) -> str | None:
    """The features as the item store keeps them (JSON), or None for a value the
    featurizer refuses too (it raises the error then)."""
    try:
        return json.dumps(features, sort_keys=True, default=_json_number)
    except (TypeError, ValueError):
        return None


def _check_items(
    item_ids: Sequence[str] | None,
    titles: Sequence[str],
    descriptions: Sequence[str],
    features: Sequence[dict[str, Any] | None],
) -> tuple[list[str], list[str], list[str], list[dict[str, Any]]]:
    n = len(titles)
    if (
        len(descriptions) != n
        or len(features) != n
        or (item_ids is not None and len(item_ids) != n)
    ):
        raise ValueError("item ids, titles, descriptions and features must have the same length")
    ids = [] if item_ids is None else list(item_ids)
    if not all(isinstance(s, str) and s for s in ids):
        raise ValueError("item ids must be non-empty strings")
    title_list, desc_list = list(titles), list(descriptions)
    if not all(isinstance(s, str) for s in title_list + desc_list):
        raise ValueError("titles and descriptions must be strings")
    feature_list = [{} if f is None else f for f in features]
    if not all(isinstance(f, dict) for f in feature_list):
        raise ValueError("features must be dicts (or None)")
    return ids, title_list, desc_list, feature_list
