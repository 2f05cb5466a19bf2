"""The accuracy table opens with the targets and the datasets that meet them, and can be
generated with another feature-hashing seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.evaluation.table import DATA_DIR, main

pytestmark = pytest.mark.skipif(not (DATA_DIR / "projects" / "kemerer.arff").exists(),
                                reason="the development datasets are not on this machine")


def test_targets_summary_and_hash_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    outputs = []
    for seed in (0, 5):
        out = tmp_path / f"table{seed}.md"
        assert main(["--only", "kemerer", "--out", str(out), "--hash-seed", str(seed)]) == 0
        outputs.append(out.read_text())
    default, seeded = outputs
    assert "## Targets" in default
    assert "- Project-level sets, SA at or above both ATLM's and ABE's: **" in default
    assert "of 1** (target: all)" in default
    assert "`python -m bench.evaluation.table`" in default
    assert "`python -m bench.evaluation.table --hash-seed 5`" in seeded
    assert "| kemerer | 15 |" in default and "| kemerer | 15 |" in seeded
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--only", "kemerer", "--hash-seed", "-1", "--out", str(tmp_path / "x.md")])
