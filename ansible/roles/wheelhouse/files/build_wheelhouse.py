#!/usr/bin/env python3
"""Build a release wheelhouse on the control machine: the project wheel and every dependency.

Usage: build_wheelhouse.py SOURCE_DIR OUTPUT_DIR [--constraints FILE]

The release id is the project version plus a digest of the wheel's RECORD (the sha256 of every
file it installs), so the same source gives the same id and any change gives a new one. A
wheelhouse that is already complete for that id is reused. Prints one JSON object:
release, wheelhouse, wheel, python (the cpXY tag the wheels were built for), changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", "*.nbi",
    "*.nbc", ".reckon", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
    "secrets", ".build", "node_modules",
)


def pip(*args: str) -> None:
    """Run pip of this interpreter; on failure print its output and exit non-zero."""
    proc = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          text=True, capture_output=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"pip {args[0]} failed")


def release_id(wheel: Path) -> str:
    """Version plus the digest of the files the wheel installs (timestamps do not count)."""
    with zipfile.ZipFile(wheel) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        lines = sorted(line for line in zf.read(record_name).decode().splitlines()
                       if line and not line.startswith(record_name + ","))
    version = wheel.name.split("-")[1]
    return f"{version}-{hashlib.sha256(chr(10).join(lines).encode()).hexdigest()[:12]}"


def main() -> int:
    """Build (or reuse) the wheelhouse and print what the playbooks need to know about it."""
    p = argparse.ArgumentParser()
    p.add_argument("source", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--constraints", type=Path, default=None)
    args = p.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(dir=args.output, prefix=".tmp-") as tmp:
        # Build from a clean copy: setuptools' in-tree build/ can keep files deleted from the
        # source, which would then ship in the release.
        src = Path(tmp) / "src"
        shutil.copytree(args.source, src, ignore=IGNORED)
        pip("wheel", "--no-deps", "--no-cache-dir", "--wheel-dir", str(Path(tmp) / "own"), str(src))
        [wheel] = list((Path(tmp) / "own").glob("*.whl"))
        release = release_id(wheel)
        target = args.output / release
        changed = not (target / ".complete").exists()
        if changed:
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            shutil.copy2(wheel, target / wheel.name)
            extra = ["--constraint", str(args.constraints)] if args.constraints else []
            pip("wheel", "--wheel-dir", str(target), *extra, str(target / wheel.name))
            pins = sorted("==".join(w.name.split("-")[:2]) for w in target.glob("*.whl"))
            (target / "requirements.lock").write_text("\n".join(pins) + "\n")
            (target / ".complete").write_text(release + "\n")
    print(json.dumps({"release": release, "wheelhouse": str(target.resolve()),
                      "wheel": wheel.name, "python": python, "changed": changed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
