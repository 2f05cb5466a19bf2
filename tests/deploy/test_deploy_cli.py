"""``reckon deploy``: clear errors without Ansible or an inventory, progress and summary."""

from __future__ import annotations

import io
import shutil
import subprocess
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


def _run_deploy(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    code = deploy_cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_missing_variables_file_is_named_before_ansible_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "inventory.ini").write_text("[coordinators]\nc1\n")
    code, text = _run_deploy(["-e", "@vars.yml"], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert f"extra-vars file vars.yml not found (read relative to {tmp_path})" in text
    code, text = _run_deploy(["--vault-password-file", "pw.txt"], tmp_path, monkeypatch,
                             capsys)
    assert code == 2 and "vault password file pw.txt not found" in text


def test_what_ansible_says_before_any_task_is_shown() -> None:
    output = ("\x1b[0;36mPLAY [Check] ****\x1b[0m\n"
              "\x1b[1;35m[WARNING]: Could not match supplied host pattern, ignoring: x\x1b[0m\n"
              "\x1b[0;31m[ERROR]: Specified inventory, host pattern and/or --limit leaves us "
              "with no hosts to target.\x1b[0m\n")
    assert deploy_cli.playbook_errors(output) == [
        "[WARNING]: Could not match supplied host pattern, ignoring: x",
        "[ERROR]: Specified inventory, host pattern and/or --limit leaves us with no hosts "
        "to target.",
    ]
    assert deploy_cli.playbook_errors("a\nb\n") == ["a", "b"]


@pytest.mark.skipif(shutil.which("ansible-vault", path=str(Path(sys.executable).parent))
                    is None, reason="ansible-core is not installed")
def test_relative_vault_encrypted_variables_reach_ansible(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Real ansible-playbook runs: ``-e @FILE`` relative to the operator's directory, an
    encrypted file without a password names the vault error, and with
    ``--vault-password-file`` it is decrypted (the run then stops at ``--limit``, which
    matches no host, and says so)."""
    (tmp_path / "inventory.ini").write_text("[coordinators]\nc1 ansible_host=192.0.2.1\n")
    (tmp_path / "pw.txt").write_text("secret\n")
    (tmp_path / "vars.yml").write_text("reckon_cluster_secret: abc\n")
    vault = Path(sys.executable).parent / "ansible-vault"
    subprocess.run([str(vault), "encrypt", "--vault-password-file", "pw.txt", "vars.yml"],
                   cwd=tmp_path, check=True, capture_output=True)
    base = ["--check", "--limit", "no-such-host", "-e", "@vars.yml"]
    code, text = _run_deploy(base, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "no vault secrets found" in text and "--vault-password-file FILE" in text
    code, text = _run_deploy([*base, "--vault-password-file", "pw.txt"], tmp_path,
                             monkeypatch, capsys)
    assert code == 1
    assert "vault" not in text
    assert "--limit leaves us with no hosts to target" in text
