"""``reckon node`` flags: snapshot settings from flags or the environment, bad values refused
with a one-line message."""

from __future__ import annotations

import pytest

from node.main import build_parser, config_from_args

BASE = ["--listen", "tcp://127.0.0.1:7101", "--coordinator", "tcp://127.0.0.1:7000",
        "--prior", "none"]
ENV = {"RECKON_CLUSTER_SECRET": "s"}


def _config(argv: list[str], environ: dict[str, str]):  # type: ignore[no-untyped-def]
    return config_from_args(build_parser().parse_args(BASE + argv), {**ENV, **environ})


def test_snapshot_settings_come_from_flags_with_defaults() -> None:
    config = _config([], {})
    assert (config.snapshot_min_items, config.snapshot_every) == (1000, 5000)
    config = _config(["--snapshot-min-items", "50", "--snapshot-every", "0"], {})
    assert (config.snapshot_min_items, config.snapshot_every) == (50, 0)


def test_snapshot_every_can_be_set_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECKON_SNAPSHOT_EVERY", "20")  # the flag's default is read from it
    assert _config([], {}).snapshot_every == 20


@pytest.mark.parametrize("flag", ["--snapshot-every", "--snapshot-min-items"])
def test_a_negative_snapshot_setting_is_refused(flag: str) -> None:
    with pytest.raises(SystemExit, match=f"{flag} must be at least 0"):
        _config([flag, "-1"], {})


def test_frame_settings_come_from_the_environment_and_bad_ones_are_refused() -> None:
    config = _config([], {"RECKON_MAX_FRAME_AGE": "30", "RECKON_ACCEPT_UNSTAMPED_FRAMES": "1"})
    assert (config.transport.max_frame_age_s, config.transport.accept_unstamped) == (30.0, True)
    with pytest.raises(SystemExit, match="reckon node: RECKON_MAX_FRAME_AGE must be seconds"):
        _config([], {"RECKON_MAX_FRAME_AGE": "-5"})


def test_only_a_tenant_message_for_that_tenant_starts_its_actor() -> None:
    """A ping, or an estimate naming another tenant, sent to ``estimator:<t>`` starts no
    actor (each would load a model of a made-up tenant, about 10 MB)."""
    from actors.messages import EstimateRequest, Ping, TenantEvents
    from node.config import NodeConfig
    from node.main import tenant_spawner

    config = NodeConfig(node_id="n", listen="tcp://127.0.0.1:1", coordinators=(),
                        cluster_secret=b"k")
    spawn = tenant_spawner(config, lambda tenant: True)
    assert spawn("estimator:t", Ping("x")) is None
    assert spawn("estimator:t", EstimateRequest("u", [{"title": "x"}], [0.5])) is None
    assert spawn("estimator:", TenantEvents("", [], 0)) is None
    assert spawn("other:t", TenantEvents("t", [], 0)) is None
    assert spawn("estimator:t", EstimateRequest("t", [{"title": "x"}], [0.5])) is not None
    assert spawn("estimator:t", TenantEvents("t", [], 3)) is not None
