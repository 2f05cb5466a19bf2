"""A three-node cluster (R=2) shared by the integration tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.launcher import LocalCluster
from tests.conftest import running_cluster


@pytest.fixture(scope="module")
def cluster3(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Coordinator + 3 nodes, replication 2, fast failure detection."""
    tmp: Path = tmp_path_factory.mktemp("cluster3")
    with running_cluster(database_url, nodes=3, replication=2, tmp=tmp,
                         heartbeat_timeout=1.5, hedge_delay=0.05) as cluster:
        yield cluster
