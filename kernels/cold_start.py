"""The cold-start prior: what a new tenant's model believes before it has any history.

A :class:`PublicPrior` is fitted offline on public effort data (see
``bench/evaluation/fit_prior.py``) and shipped as a handful of named arrays; the node
loads them and passes them to :class:`~kernels.Estimator`. It sets the prior of the
linear model on log effort: the typical log effort of an item and how much it varies
between tenants (the bias), how much items vary within a tenant (the noise prior) and
the prior variances of the structured and text coefficients. As actuals arrive the
posterior moves to the tenant's own history; the prior's weight is that of a few items.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from kernels.config import MAX_LOG_MEDIAN, EstimatorConfig, check_prior_ranges

PRIOR_VERSION = 1


@dataclass(frozen=True)
class PublicPrior:
    """Cold-start prior parameters, in the units of :class:`EstimatorConfig`'s prior fields.

    ``log_median``: mean over tenants of the log median effort; ``bias_var``: its spread
    between tenants, in units of the noise variance; ``noise_scale`` and
    ``noise_strength``: the inverse-gamma prior of the within-tenant noise (typical
    residual spread on the log scale, and its weight in pseudo-observations times two);
    ``meta_var`` and ``text_var``: prior variances of the coefficient blocks.
    """

    log_median: float
    bias_var: float
    noise_scale: float
    noise_strength: float
    meta_var: float
    text_var: float

    def __post_init__(self) -> None:
        values = dataclasses.astuple(self)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("prior parameters must be finite")
        if min(values[1:]) <= 0:
            raise ValueError("prior variances, noise scale and strength must be > 0")
        if not abs(self.log_median) <= MAX_LOG_MEDIAN:
            raise ValueError(f"prior log_median must be within ±{MAX_LOG_MEDIAN}")
        check_prior_ranges(self.bias_var, self.meta_var, self.text_var, self.noise_scale,
                           self.noise_strength)

    def apply(self, config: EstimatorConfig) -> EstimatorConfig:
        """``config`` with its prior fields replaced by this prior."""
        return dataclasses.replace(
            config,
            prior_median=math.exp(self.log_median),
            prior_bias_var=self.bias_var,
            prior_noise_scale=self.noise_scale,
            prior_noise_strength=self.noise_strength,
            prior_meta_var=self.meta_var,
            prior_text_var=self.text_var,
            prior_meta_scales=(),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The prior as named 0-d float64 arrays plus a version (``np.savez``/msgpack friendly)."""
        out = {f.name: np.array(getattr(self, f.name), dtype=np.float64)
               for f in dataclasses.fields(self)}  # fmt: skip
        out["version"] = np.array(PRIOR_VERSION, dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> PublicPrior:
        """Rebuild from :meth:`to_arrays` output (e.g. a loaded ``.npz``).

        Raises ValueError on another version, a missing or non-scalar entry.
        """
        try:
            version = int(np.asarray(arrays["version"]))
            if version != PRIOR_VERSION:
                raise ValueError(f"unsupported prior version {version}")
            values = {}
            for f in dataclasses.fields(cls):
                arr = np.asarray(arrays[f.name], dtype=np.float64)
                if arr.size != 1:
                    raise ValueError(f"prior entry {f.name!r} must be a scalar")
                values[f.name] = float(arr.reshape(()))
        except KeyError as exc:
            raise ValueError(f"prior is missing {exc}") from exc
        return cls(**values)
