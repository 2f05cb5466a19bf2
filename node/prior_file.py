"""The cold-start prior shipped with the node: fitted offline on public data.

``bench/evaluation/fit_prior.py`` writes ``node/priors/public_prior.npz``; a node loads it once
at start (file I/O stays here, at the edge) and every new tenant's model starts from it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from kernels import PublicPrior

PACKAGED = "priors/public_prior.npz"


def load_prior(path: str | None) -> PublicPrior | None:
    """The prior at ``path`` ("none" for the estimator's generic default; None for the
    packaged file). Raises ``ValueError`` with the reason if the file is unusable."""
    if path is not None and path.lower() == "none":
        return None
    source = resources.files("node").joinpath(PACKAGED) if path is None else Path(path)
    try:
        with source.open("rb") as f, np.load(f) as arrays:
            return PublicPrior.from_arrays({k: arrays[k] for k in arrays.files})
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"cannot load the prior {source}: {e}") from e
