"""``reckon deploy``: run the Ansible playbooks (``ansible/site.yml``, ``ansible/rolling.yml``)
through ansible-runner, with one progress line per host and task and a summary of failures.

Needs ``ansible-core`` and ``ansible-runner`` on the control machine (not on the servers) and
a source checkout, where the playbooks and ``systemd/`` live.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

DEFAULT_PLAYBOOK_DIR = Path(__file__).resolve().parents[1] / "ansible"


class DeployError(Exception):
    """Something the operator must fix before a deployment can run (the message says what)."""


@dataclass
class HostFailure:
    """One failed or unreachable task on one host."""

    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class Progress:
    """Turns ansible-runner events into progress lines, and remembers what failed."""

    out: TextIO
    verbose: bool = False
    failures: list[HostFailure] = field(default_factory=list)
    _task: str = ""

    def __call__(self, event: dict[str, Any]) -> bool:
        """ansible-runner's event handler; returning True keeps the event."""
        kind = event.get("event", "")
        data = event.get("event_data", {}) or {}
        host = data.get("remote_addr") or data.get("host") or ""
        if kind == "playbook_on_play_start":
            self._line(f"== {data.get('play', '')}")
        elif kind == "playbook_on_task_start":
            self._task = data.get("task", "")
            if self.verbose:
                self._line(f"   - {self._task}")
        elif kind == "runner_on_ok":
            result = data.get("res", {}) or {}
            if result.get("changed"):
                self._line(f"   {host}: changed  {self._task}")
            elif self.verbose:
                self._line(f"   {host}: ok       {self._task}")
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            message = _failure_message(data.get("res", {}) or {})
            self.failures.append(HostFailure(host, data.get("task", self._task), message))
            self._line(f"   {host}: FAILED   {data.get('task', self._task)}: {message}")
        elif kind == "runner_on_unreachable":
            message = _failure_message(data.get("res", {}) or {})
            self.failures.append(HostFailure(host, data.get("task", self._task), message, True))
            self._line(f"   {host}: UNREACHABLE {message}")
        elif kind == "runner_retry":
            attempts = data.get("res", {}).get("attempts", "?") if data.get("res") else "?"
            self._line(f"   {host}: waiting  {self._task} (attempt {attempts})")
        return True

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _failure_message(result: dict[str, Any]) -> str:
    parts = [str(result.get("msg", "")).strip()]
    stderr = str(result.get("stderr", "")).strip()
    if stderr:
        parts.append(stderr.splitlines()[-1])
    text = " | ".join(p for p in parts if p) or "failed (no message)"
    return text if len(text) <= 400 else text[:400] + "..."


def build_parser() -> argparse.ArgumentParser:
    """The ``reckon deploy`` command line."""
    p = argparse.ArgumentParser(
        prog="reckon deploy",
        description="Install a cluster on servers (ansible/site.yml) or upgrade a running one "
                    "a server at a time (ansible/rolling.yml). See docs/deploying.md.")
    p.add_argument("--inventory", "-i", default="inventory.ini", type=Path,
                   help="Ansible inventory (default: inventory.ini; start from "
                        "inventory.example.ini)")
    p.add_argument("--rolling", action="store_true",
                   help="upgrade a running cluster one server at a time (rolling.yml)")
    p.add_argument("--check", action="store_true",
                   help="dry run: show what would change, change nothing on the servers")
    p.add_argument("--limit", default=None, help="only these hosts or groups (Ansible pattern)")
    p.add_argument("--extra-vars", "-e", action="append", default=[], metavar="VARS",
                   help="extra variables, as for ansible-playbook -e (repeatable); "
                        "@FILE is read relative to the current directory")
    p.add_argument("--vault-password-file", type=Path, default=None, metavar="FILE",
                   help="file (or executable script) giving the ansible-vault password of "
                        "encrypted variables")
    p.add_argument("--playbook-dir", type=Path, default=DEFAULT_PLAYBOOK_DIR,
                   help="directory holding site.yml and rolling.yml (default: the checkout's)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="show every task and unchanged results too")
    return p


def _check_prerequisites(args: argparse.Namespace) -> tuple[Path, Path]:
    playbook = (args.playbook_dir / ("rolling.yml" if args.rolling else "site.yml")).resolve()
    if not playbook.is_file():
        raise DeployError(f"no playbook at {playbook}; run from a source checkout of reckon "
                          "or give --playbook-dir")
    inventory = args.inventory.resolve()
    if not inventory.is_file():
        raise DeployError(f"inventory {args.inventory} not found; copy inventory.example.ini "
                          "to inventory.ini, edit it, or pass --inventory FILE")
    try:
        import ansible_runner  # noqa: F401
    except ImportError as e:
        raise DeployError("ansible-runner is not installed on this machine; install the "
                          "deployment tools with: pip install ansible-core ansible-runner") from e
    bin_dir = str(Path(sys.executable).parent)
    path = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    if shutil.which("ansible-playbook", path=path) is None:
        raise DeployError("ansible-playbook is not installed on this machine; install it "
                          "with: pip install ansible-core")
    return playbook, inventory


def _operator_file(path: Path, cwd: Path, what: str) -> Path:
    """``path`` made absolute against the operator's ``cwd`` (ansible-playbook runs in the
    playbook directory, where a relative path would point elsewhere); DeployError when
    there is no such file."""
    resolved = (cwd / path.expanduser()).resolve()
    if not resolved.is_file():
        raise DeployError(f"{what} {path} not found (read relative to {cwd})")
    return resolved


def _extra_vars(values: list[str], cwd: Path) -> list[str]:
    """``-e`` values, with ``@FILE`` made absolute (see :func:`_operator_file`)."""
    return [f"@{_operator_file(Path(v[1:]), cwd, 'extra-vars file')}" if v.startswith("@")
            else v for v in values]


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the chosen playbook; return 0 when every host succeeded, 1 otherwise.

    Raises DeployError when a prerequisite (inventory, playbooks, Ansible) is missing.
    """
    out = sys.stdout if out is None else out
    playbook, inventory = _check_prerequisites(args)
    cwd = Path.cwd()
    extra_vars = _extra_vars(args.extra_vars, cwd)
    vault_password = (None if args.vault_password_file is None else
                      _operator_file(args.vault_password_file, cwd, "vault password file"))
    import ansible_runner

    cmdline = []
    if args.check:
        cmdline += ["--check", "--diff"]
    if args.limit:
        cmdline += ["--limit", args.limit]
    for extra in extra_vars:
        cmdline += ["--extra-vars", extra]
    if vault_password is not None:
        cmdline += ["--vault-password-file", str(vault_password)]
    bin_dir = str(Path(sys.executable).parent)
    envvars = {
        "ANSIBLE_CONFIG": str(playbook.parent / "ansible.cfg"),
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    }
    progress = Progress(out, verbose=args.verbose)
    what = "rolling upgrade" if args.rolling else "deployment"
    print(f"reckon deploy: {what} with {playbook.name}, inventory {args.inventory}"
          f"{' (check mode: nothing is changed)' if args.check else ''}", file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix="reckon-deploy-") as private:
        result = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(playbook.parent),
            playbook=str(playbook),
            inventory=str(inventory),
            cmdline=" ".join(_quote(c) for c in cmdline) or None,
            envvars=envvars,
            event_handler=progress,
            quiet=True,
        )
        # The stats are read from the artifacts in the private directory: before it goes.
        return _summarise(result, progress, out)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _summarise(result: Any, progress: Progress, out: TextIO) -> int:
    stats = result.stats or {}
    hosts = sorted(set().union(*(stats.get(k, {}) for k in
                                 ("ok", "changed", "failures", "dark", "skipped"))))
    print("\nsummary:", file=out)
    for host in hosts:
        counts = {k: stats.get(k, {}).get(host, 0)
                  for k in ("ok", "changed", "failures", "dark", "skipped")}
        state = "FAILED" if counts["failures"] or counts["dark"] else "ok"
        print(f"  {host:<24} {state:<7} ok={counts['ok']} changed={counts['changed']} "
              f"failed={counts['failures']} unreachable={counts['dark']} "
              f"skipped={counts['skipped']}", file=out)
    if progress.failures:
        print("\nfailures:", file=out)
        for f in progress.failures:
            kind = "unreachable" if f.unreachable else f.task
            print(f"  {f.host}: {kind}: {f.message}", file=out)
    ok = result.rc == 0 and not progress.failures
    if not ok and not progress.failures:
        print(f"\nansible-playbook ended with status {result.rc} ({result.status}):", file=out)
        output = _output_of(result)
        for line in playbook_errors(output):
            print(f"  {line}", file=out)
        if "no vault secrets" in output:
            print("  (encrypted variables need --vault-password-file FILE)", file=out)
    print("\n" + ("done" if ok else "FAILED: fix the failures above and run again"), file=out)
    return 0 if ok else 1


#: Lines of ansible-playbook's own output shown when it failed before any task did.
ERROR_TAIL = 12
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _output_of(result: Any) -> str:
    stdout = getattr(result, "stdout", None)
    if stdout is None:
        return ""
    try:
        return str(stdout.read())
    except (OSError, ValueError):  # the artifacts are already gone
        return ""


def playbook_errors(output: str) -> list[str]:
    """What ansible-playbook said when it stopped before running any task (a variables
    file it cannot read, vault secrets it lacks, a --limit that matches no host): its
    error and warning lines, or else the end of its output."""
    plain = _ANSI.sub("", output)
    lines = [line.rstrip() for line in plain.splitlines() if line.strip()]
    marked = [line for line in lines
              if line.lstrip().startswith(("ERROR!", "[ERROR]", "[WARNING]"))]
    shown = marked or lines
    return shown[-ERROR_TAIL:] or ["(no output; run ansible-playbook directly to see why)"]


def main(argv: list[str]) -> int:
    """Entry point of ``reckon deploy``."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except DeployError as e:
        print(f"reckon deploy: {e}", file=sys.stderr)
        return 2
