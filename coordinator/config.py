"""The coordinator's configuration: one typed object built at start, passed down explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.transport import TransportConfig


@dataclass(frozen=True)
class CoordinatorConfig:
    """Everything a coordinator process needs to know."""

    coordinator_id: str
    database_url: str
    cluster_secret: bytes
    listen: str = "tcp://127.0.0.1:7100"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    replication: int = 2
    heartbeat_timeout: float = 2.0
    hedge_delay: float = 0.1
    request_timeout: float = 5.0
    max_body_bytes: int = 16 * 1024 * 1024
    # A request's whole body must arrive within this many seconds (else 408).
    body_timeout: float = 60.0
    max_batch_items: int = 1000
    max_import_items: int = 50_000
    pool_min: int = 2
    pool_max: int = 10
    key_cache_seconds: float = 30.0
    # While PostgreSQL cannot be reached, keys verified this recently are still accepted.
    key_stale_seconds: float = 900.0
    graceful_timeout: float = 10.0
    forecast_part_timeout: float = 300.0
    transport: TransportConfig = field(default_factory=TransportConfig)
