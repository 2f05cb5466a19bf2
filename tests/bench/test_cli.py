"""``reckon eval``: output shapes, error handling and one small real dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.evaluation.cli import main
from bench.evaluation.datasets import load_dataset
from bench.evaluation.metrics import random_guess_mae, score

KEYS = {"mae", "mdae", "sa", "mmre", "pred25", "coverage80", "width80"}
DATA = Path("/work/shared/datasets")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["key, title ,description,size,team,effort"]
    for i in range(60):
        size = int(rng.integers(1, 40))
        team = ["web", "core"][i % 2]
        effort = round(float(np.exp(0.3 + 0.5 * np.log(size) + rng.normal(0, 0.2))), 2)
        lines.append(f'K-{i},"fix {team} thing {i % 5}","details {i}",{size},{team},{effort}')
    return write(tmp_path, "items.csv", "\n".join(lines) + "\n")


def test_json_output_shape(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([str(csv_file), "--target", " effort", "--drop", "key", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["n_train"] == 48 and out["n_test"] == 12
    assert set(out["models"]) == {"reckon", "mean", "median", "atlm", "abe"}
    assert all(set(m) == KEYS for m in out["models"].values())


def test_cv_online_and_train_test_modes(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(csv_file), "--target", "effort", "--drop", "key", "--cv", "kfold:5x2",
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["n_test"] == 120
    assert main([str(csv_file), "--target", "effort", "--drop", "key", "--online"]) == 0
    assert "reckon" in capsys.readouterr().out
    lines = csv_file.read_text().splitlines()
    train = write(tmp_path, "a.csv", "\n".join(lines[:41]) + "\n")
    test = write(tmp_path, "b.csv", "\n".join([lines[0], *lines[41:]]) + "\n")
    assert main(["--train", str(train), "--test", str(test), "--target", "effort",
                 "--drop", "key", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["n_test"] == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--target", "effort"], "no such file"),
        (["{csv}", "--target", "nope"], "'nope' not found"),
        (["{csv}", "--target", "team"], "not numeric"),
        (["{csv}", "--target", "effort", "--cv", "kfold:x"], "--cv"),
        (["{csv}", "--target", "effort", "--split", "chrono:2"], "--split"),
        (["{csv}"], "required"),
        (["{bad}", "--target", "effort"], "fields"),
        (["{dir}", "--target", "effort"], "is a directory"),
        (["{binary}", "--target", "effort"], "not UTF-8 text (byte 0xff at offset 0)"),
        (["{csv}", "--target", "effort", "--cv", "kfold:1"], "K must be at least 2"),
        (["{csv}", "--target", "effort", "--drop", "effort"], "--drop names the target"),
        (["{blank}", "--target", "effort"], "'effort' is missing in data row 2"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, csv_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    files = {"{csv}": csv_file, "{bad}": write(tmp_path, "bad.csv", "a,b,effort\n1,2\n"),
             "{blank}": write(tmp_path, "blank.csv", "a,effort\n1,3\n2,\n3,4\n"),
             "{dir}": tmp_path, "{binary}": tmp_path / "binary.csv"}
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    argv = [str(files.get(a, a)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_arff_reader_and_metrics(tmp_path: Path) -> None:
    arff = write(tmp_path, "p.arff", """% comment
@relation demo
@attribute ID numeric
@attribute 'Lang' {c,java}
@attribute Start date "yyyy-MM-dd"
@attribute Size numeric
@attribute Effort numeric
@data
1,c,1999-01-01,10,100
2,java,?,20,210
3,'java',2001-07-01,5,40
""")  # fmt: skip
    data = load_dataset(arff, "Effort", None, ["ID"])
    assert data.numeric == ["Start", "Size"] and data.nominal == ["Lang"]
    assert data.features[1]["Start"] is None and data.features[2]["Lang"] == "java"
    y = np.array([1.0, 2.0, 4.0])
    s = score(y, np.array([1.0, 3.0, 4.0]), y * 0.5, y * 2, guess_mae=2.0)
    assert (s.mae, s.mdae, s.sa, s.pred25, s.coverage80) == (
        1 / 3,
        0.0,
        100 * (1 - 1 / 6),
        2 / 3,
        1.0,
    )
    assert s.mmre == pytest.approx(0.5 / 3)
    exact = np.mean([abs(a - b) for a in y for b in (1.0, 5.0)])
    rg = random_guess_mae(y, [np.array([1.0, 5.0])], np.zeros(3, dtype=np.int64),
                          np.random.default_rng(0))  # fmt: skip
    assert rg == pytest.approx(exact, rel=0.05)


@pytest.mark.skipif(not (DATA / "projects" / "kemerer.arff").exists(), reason="no public data")
def test_kemerer_leave_one_out(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([str(DATA / "projects" / "kemerer.arff"), "--target", "EffortMM", "--drop", "ID",
               "--cv", "loo", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["n_test"] == 15
    models = out["models"]
    assert models["reckon"]["sa"] > models["median"]["sa"]


def test_the_table_keeps_its_columns_apart_whatever_the_numbers() -> None:
    """A baseline gone wild (a width of 1e28, an MAE in the tens of thousands, an infinite
    width) must not run into the next column: every cell sits under its title."""
    from bench.evaluation.cli import COLUMNS, format_table
    from bench.evaluation.metrics import Scores
    from bench.evaluation.runner import Evaluation

    scores = {
        "reckon": Scores(1125.551, 341.0, 10.5, 1.25, 0.105, 0.368, 407.58),
        "atlm": Scores(35007.92, 144844.0, -2684.4, 303.5, 0.0, 0.895, 8.96e28),
        "median": Scores(1204.6, 467.0, 4.2, 1.6, 0.0, 0.632, float("inf")),
    }
    table = format_table(Evaluation(10, 3, scores, np.ones(3)))
    head, rule, *rows = table.splitlines()
    assert head.split() == ["model", *(title for _, title, _ in COLUMNS)]
    assert len({len(line) for line in (head, rule, *rows)}) == 1
    for line, name in zip(rows, scores, strict=True):
        cells = line.split()
        assert cells[0] == name and len(cells) == len(COLUMNS) + 1
        for cell, (_, title, _) in zip(cells[1:], COLUMNS, strict=True):
            # right-aligned under its title
            assert line.index(cell, head.index(title) - len(cell)) + len(cell) == (
                head.index(title) + len(title))
    assert "8.96e+28" in table and "inf" in table
