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


def _robustness(points: dict[str, float]) -> dict:
    return {"accuracy": {e: {"top_left": a / 100, "bottom_right": a / 100}
                         for e, a in points.items()}}


def test_fgsm_shape_measures_drop_slope_linearity_and_gap(tmp_path):
    """scripts/fgsm_shape.py: a curve that drops 10 points then loses exactly 2 per 0.05 is
    linear after the drop; the paper's own row is listed with no gap; a protocol file also
    yields the standard row it carries."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import fgsm_shape

    etas = ("0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3")
    linear = {e: 90.0 - 10.0 * (i > 0) - 2.0 * max(i - 1, 0) for i, e in enumerate(etas)}
    s = fgsm_shape.shape(linear, paper={e: v + 5.0 for e, v in linear.items()})
    assert (s["clean"], s["level"], s["first_drop"]) == (90.0, 70.0, 10.0)
    assert s["later_slope"] == 2.0 and abs(s["linearity"] - 1.0) < 1e-9 and s["gap"] == 5.0
    bent = dict(linear, **{"0.1": 60.0})
    assert fgsm_shape.shape(bent)["linearity"] < 0.9

    (tmp_path / "results").mkdir()
    steep = {e: 90.0 - 12.0 * i for i, e in enumerate(etas)}
    (tmp_path / "results" / "mtvib--weighted.json").write_text(json.dumps(
        {"robustness": _robustness(steep), "robustness_protocol": _robustness(linear)}))
    rows = fgsm_shape.rows(str(tmp_path), "mtvib_table_iii")
    by = {(m, p, t): r for m, p, t, r in rows}
    assert by[("mtvib", "standard", "top_left")]["first_drop"] == 12.0
    assert by[("mtvib", "weighted", "top_left")]["later_slope"] == 2.0
    paper = by[("mtvib", "paper", "top_left")]
    assert paper["level"] == 76.8 and "gap" not in paper  # MTVIB Table III, eta 0.3
    assert "| mtvib | top_left | weighted |" in fgsm_shape.markdown(rows)
