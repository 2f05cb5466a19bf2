"""The per-tenant effort model: learns from finished items, predicts effort distributions.

Effort is modelled on the log scale by a Bayesian linear regression over hashed features
(:mod:`kernels.blr`), so predictions are log-Student-t: the predictive median is the
point estimate and quantiles come from the Student-t quantile function. Analogies are
the learned items nearest in feature space.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import NDArray

from kernels.analogies import top_k_cosine
from kernels.blr import BayesianLinearRegression
from kernels.config import EstimatorConfig
from kernels.features import FeatureRows, Featurizer
from kernels.item_store import ItemStore
from kernels.numeric_scaling import NumericScaler
from kernels.prediction import Analogy, Prediction

STATE_VERSION = 1
_LOG_LIMIT = 700.0  # keeps exp() of extreme quantiles finite and > 0


class Estimator:
    """A stateful effort model; see :class:`EstimatorConfig` for its prior and layout.

    Learning the same ``item_id`` again replaces the earlier actual: its observation is
    removed from the posterior exactly (a Sherman-Morrison downdate with the very vector
    it was learned with) before the new one is added. Numeric feature scaling is the one
    exception: running statistics keep every value they have seen.
    """

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.config = config if config is not None else EstimatorConfig()
        cfg = self.config
        prior_mean = np.zeros(cfg.dim)
        prior_mean[0] = math.log(cfg.prior_median)
        prior_var = np.full(cfg.dim, cfg.prior_text_var)
        prior_var[0] = cfg.prior_bias_var
        prior_var[1 : cfg.text_start] = cfg.prior_meta_var
        a0 = cfg.prior_noise_strength
        self._model = BayesianLinearRegression(
            prior_mean, prior_var, a0, a0 * cfg.prior_noise_scale**2
        )
        self._features = Featurizer(cfg)
        self._items = ItemStore(first_coord=1)

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
        """Fold in many items; the same result as calling :meth:`learn` on each in order.

        Raises ValueError on invalid input (mismatched lengths, a non-finite or
        non-positive effort, an unsupported feature value), before anything changes.
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
        rows = self._features.transform(title_list, desc_list, feature_list, learn=True)
        new_rows, replaced = self._items.append(ids, title_list, effort_arr, rows)
        # Each item is one +1 row, preceded by a -1 row for the actual it replaces.
        order = np.stack([replaced, new_rows], axis=1).ravel()
        weights = np.tile(np.array([-1.0, 1.0]), len(ids))
        weights[::2][replaced < 0] = 0.0
        order = order[weights != 0]
        weights = weights[weights != 0]
        indptr, indices, values = self._items.rows(order)
        self._model.update(indptr, indices, values, np.log(self._items.efforts[order]), weights)
        retired = self._items.n_rows - self._items.n_live
        if retired > max(64, self._items.n_live // 4):
            self._items.compact()

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
        levels = np.asarray(quantiles, dtype=np.float64)
        if levels.ndim != 1 or not np.all((levels > 0) & (levels < 1)):
            raise ValueError("quantiles must be a 1-d array of levels strictly between 0 and 1")
        _, title_list, desc_list, feature_list = _check_items(None, titles, descriptions, features)
        cfg = self.config
        rows = self._features.transform(
            title_list, desc_list, feature_list, learn=False, with_labels=cfg.n_drivers > 0
        )
        loc, scale, dof = self._model.predict(rows.indptr, rows.indices, rows.values)
        t_levels = scipy.stats.t.ppf(levels, dof)
        log_q = np.clip(loc[:, None] + scale[:, None] * t_levels[None, :], -_LOG_LIMIT, _LOG_LIMIT)
        q_values = np.exp(log_q)  # t.ppf is increasing, so these follow the order of levels
        medians = np.exp(np.clip(loc, -_LOG_LIMIT, _LOG_LIMIT))
        analogies = self._analogies(rows)
        return [
            Prediction(
                quantiles=q_values[i],
                median=float(medians[i]),
                analogies=analogies[i],
                drivers=self._drivers(rows, i),
            )
            for i in range(len(rows))
        ]

    def _analogies(self, rows: FeatureRows) -> list[tuple[Analogy, ...]]:
        k = min(self.config.n_analogies, self._items.n_live)
        if k == 0:
            return [() for _ in range(len(rows))]
        items = self._items
        best, sims = top_k_cosine(
            rows.indptr, rows.indices, rows.values, items.indptr, items.indices, items.values,
            items.norms, items.alive, k, items.first_coord, self.config.dim,
        )  # fmt: skip
        return [
            tuple(
                Analogy(items.ids[r], items.titles[r], float(items.efforts[r]), float(s))
                for r, s in zip(best[i], sims[i], strict=True)
                if r >= 0
            )
            for i in range(len(rows))
        ]

    def _drivers(self, rows: FeatureRows, i: int) -> tuple[tuple[str, float], ...]:
        n = self.config.n_drivers
        if n == 0:
            return ()
        mean = self._model.mean_
        contributions: dict[str, float] = {}
        for label, pos, value in rows.labels[i]:
            contributions[label] = contributions.get(label, 0.0) + value * float(mean[pos])
        idx, val = rows.row(i)
        text = idx >= self.config.text_start
        contributions["text"] = float(val[text] @ mean[idx[text]])
        ranked = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
        return tuple((name, c) for name, c in ranked[:n] if c != 0.0)

    def to_state(self) -> dict[str, Any]:
        """A msgpack-friendly snapshot: a flat dict of numpy arrays, ints, floats, strs and
        lists of str. :meth:`from_state` restores a model that predicts identically."""
        state: dict[str, Any] = {"version": STATE_VERSION}
        for f in dataclasses.fields(self.config):
            state[f"config.{f.name}"] = getattr(self.config, f.name)
        for prefix, part in (
            ("model", self._model.to_state()),
            ("scaler", self._features.scaler.to_state()),
            ("items", self._items.to_state()),
        ):
            for key, value in part.items():
                state[f"{prefix}.{key}"] = value
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
                cast = int if f.type in (int, "int") else float
                settings[f.name] = cast(state[f"config.{f.name}"])
            config = EstimatorConfig(**settings)
            parts: dict[str, dict[str, Any]] = {"model": {}, "scaler": {}, "items": {}}
            for key, value in state.items():
                prefix, _, rest = key.partition(".")
                if prefix in parts:
                    parts[prefix][rest] = value
            est = cls(config)
            est._model = BayesianLinearRegression.from_state(parts["model"])
            est._features = Featurizer(config, NumericScaler.from_state(parts["scaler"]))
            est._items = ItemStore.from_state(parts["items"], first_coord=1)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed estimator state: {exc}") from exc
        if est._model.dim != config.dim:
            raise ValueError("malformed estimator state: model size does not match config")
        return est


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
    if not all(isinstance(s, str) for s in ids):
        raise ValueError("item ids must be strings")
    title_list, desc_list = list(titles), list(descriptions)
    if not all(isinstance(s, str) for s in title_list + desc_list):
        raise ValueError("titles and descriptions must be strings")
    feature_list = [{} if f is None else f for f in features]
    if not all(isinstance(f, dict) for f in feature_list):
        raise ValueError("features must be dicts (or None)")
    return ids, title_list, desc_list, feature_list
