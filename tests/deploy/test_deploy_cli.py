"""``reckon deploy``: clear errors without Ansible or an inventory, progress and summary."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coordinator import deploy_cli


def test_missing_inventory_is_a_clear_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_cli.main(["--inventory", str(tmp_path / "nope.ini")]) == 2
    err = capsys.readouterr().err
    assert "nope.ini not found" in err and "inventory.example.ini" in err
    assert "Traceback" not in err


def test_missing_ansible_runner_is_a_clear_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[coordinators]\nc1\n")
    monkeypatch.setitem(sys.modules, "ansible_runner", None)  # import now raises ImportError
    assert deploy_cli.main(["--inventory", str(inventory)]) == 2
    err = capsys.readouterr().err
    assert "pip install ansible-core ansible-runner" in err


def test_missing_playbooks_are_a_clear_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_cli.main(["--playbook-dir", str(tmp_path), "--rolling"]) == 2
    assert "no playbook at" in capsys.readouterr().err


@dataclass
class FakeResult:
    rc: int
    status: str
    stats: dict[str, dict[str, int]]


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": data}


def test_progress_and_summary_name_each_failed_host() -> None:
    out = io.StringIO()
    progress = deploy_cli.Progress(out)
    for event in [
        _event("playbook_on_play_start", play="Upgrade one server at a time"),
        _event("playbook_on_task_start", task="Drain this server"),
        _event("runner_on_ok", host="app1", res={"changed": True}),
        _event("runner_on_failed", host="app2", task="Wait until every node has rejoined",
               res={"msg": "retries exceeded", "stderr": "boom\nlast line"}),
        _event("runner_on_unreachable", host="app3", task="Gathering Facts",
               res={"msg": "ssh: connect to host app3 port 22: No route to host"}),
    ]:
        assert progress(event)
    stats = {"ok": {"app1": 5, "app2": 3}, "changed": {"app1": 1}, "failures": {"app2": 1},
             "dark": {"app3": 1}, "skipped": {}}
    assert deploy_cli._summarise(FakeResult(2, "failed", stats), progress, out) == 1
    text = out.getvalue()
    assert "app1: changed  Drain this server" in text
    assert "app2: FAILED   Wait until every node has rejoined: retries exceeded | last line" in text
    assert "app3: unreachable: ssh: connect to host app3" in text
    assert "FAILED: fix the failures above" in text


def test_summary_of_a_clean_run() -> None:
    out = io.StringIO()
    progress = deploy_cli.Progress(out)
    stats = {"ok": {"app1": 5}, "changed": {}, "failures": {}, "dark": {}, "skipped": {}}
    assert deploy_cli._summarise(FakeResult(0, "successful", stats), progress, out) == 0
    assert out.getvalue().rstrip().endswith("done")
