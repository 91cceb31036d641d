"""scripts/learning_curves.py: staged runs' metrics -> steps table and learning-curve figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _metrics(method: str, epochs: int, clean: float, eta03: float) -> dict:
    acc = {"0": {"top_left": clean, "bottom_right": clean - 0.1},
           "0.1": {"top_left": (clean + eta03) / 2, "bottom_right": 0.2},
           "0.3": {"top_left": eta03, "bottom_right": 0.1}}
    return {"method": method, "epochs": epochs, "train_size": 1000, "batch_size": 300,
            "tasks": ["top_left", "bottom_right"], "wall_time_seconds": 12.0,
            "accuracy": acc["0"], "robustness": {"etas": [0.0, 0.1, 0.3], "accuracy": acc}}


def test_stages_become_rows_by_steps_and_a_figure(tmp_path):
    stages = tmp_path / "stages"
    for method, runs in {"gs": [(1, 0.5, 0.1), (4, 0.8, 0.2)], "mtvib": [(2, 0.6, 0.3)]}.items():
        (stages / method).mkdir(parents=True)
        for epochs, clean, eta03 in runs:
            (stages / method / f"epochs_{epochs}.json").write_text(
                json.dumps(_metrics(method, epochs, clean, eta03)))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "learning_curves.py"),
         f"--stages_dir={stages}", f"--out={out}", "--paper_table=mtvib_table_iii"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(",") for line in (out / "curves.csv").read_text().splitlines()]
    header, body = rows[0], rows[1:]
    col = header.index("top_left@0.3")
    # GS: 1 epoch = ceil(1000/300) = 4 steps, then 16; paper row follows each method.
    assert [r[:3] for r in body[:3]] == [["GS", "1", "4"], ["GS", "4", "16"],
                                        ["GS (paper)", "", "120000"]]
    assert body[0][col] == "10.0" and body[1][col] == "20.0"
    assert body[2][col] == "76.4"  # MTVIB Table III, GS, task 1, eta 0.3
    assert body[3][:3] == ["MTVIB", "2", "8"] and body[4][col] == "76.8"
    png = (out / "learning_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_no_stages_is_one_error_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "learning_curves.py"),
         f"--stages_dir={tmp_path}", f"--out={tmp_path / 'o'}"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "epochs_<E>.json" in proc.stderr
    assert not (tmp_path / "o").exists()
