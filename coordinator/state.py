"""What every request handler shares: one object, passed explicitly through the app."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from actors import ActorSystem
from coordinator.auth import KeyVerifier
from coordinator.config import CoordinatorConfig
from coordinator.http_metrics import HttpMetrics
from coordinator.membership import Membership
from coordinator.router import Router
from coordinator.store.ledger import LedgerWriter


@dataclass
class AppState:
    """The coordinator's collaborators."""

    config: CoordinatorConfig
    pool: asyncpg.Pool
    system: ActorSystem
    membership: Membership
    router: Router
    ledger: LedgerWriter
    keys: KeyVerifier
    http_metrics: HttpMetrics
