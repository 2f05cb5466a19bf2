"""The node's configuration: one typed object built at start from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.transport import TransportConfig
from kernels import PublicPrior


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node process needs to know."""

    node_id: str
    listen: str
    coordinators: tuple[str, ...]
    cluster_secret: bytes
    heartbeat_interval: float = 0.5
    fetch_timeout: float = 5.0
    fetch_page: int = 5000
    drain_timeout: float = 10.0
    leave_grace: float = 0.3
    transport: TransportConfig = field(default_factory=TransportConfig)
    # Where a new tenant's model starts; None: the estimator's generic weak prior.
    prior: PublicPrior | None = None
    # A tenant's model is refitted in the background (hyperparameters by marginal
    # likelihood, see kernels.refit) once it has refit_min_items actuals, and again each time
    # its actuals have grown by the factor refit_growth since the last refit; 0 disables.
    refit_growth: float = 2.0
    refit_min_items: int = 50
    # After each refit the model is saved as a snapshot through a coordinator, in parts of
    # snapshot_part_bytes; a node taking a tenant over loads the newest one and replays only
    # the events after it (see node.snapshots).
    # Only tenants with at least snapshot_min_items actuals are saved (0: none): a smaller history
    # replays in well under a second, and a snapshot holds the linear model's dense
    # covariance (8 MB at the default feature dimension) whatever the tenant's size.
    # Between refits, the model in use is saved too once the events since the last snapshot
    # number at least snapshot_every and a quarter of the log (0: after refits only),
    # so a node taking the tenant over replays about that many (10,000 take 1.5-2 s), or a
    # quarter of the log, plus what came during a refit or while a snapshot was sent.
    # Only the tenant's first owner saves.
    snapshots: bool = True
    snapshot_min_items: int = 1000
    snapshot_every: int = 5000
    snapshot_part_bytes: int = 4 * 1024 * 1024
