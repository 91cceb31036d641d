"""Seed statistics over experiment reports (mtl_tf.evaluation.seeds, scripts/seed_summary.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mtl_tf.evaluation import reports, seeds
from tests.test_reports import _metrics, _model, _parse_markdown_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_report(report_dir: str, metrics_by_method: dict[str, dict]) -> str:
    for method, metrics in metrics_by_method.items():
        run_dir = os.path.join(report_dir, "runs", method)
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f)
    return report_dir


def _seed_report(seed: int) -> dict[str, dict]:
    # MTVIB's accuracy rises 1 point per seed, UWL's 2: MTVIB - UWL = +1, 0, -1 points.
    mtvib = _model("mtvib", 0.90 + 0.01 * seed)
    uwl = _model("uwl", 0.89 + 0.02 * seed)
    gs = _model("gs", 0.84)
    prefs = [_model(f"preference_{i}", 0.80 + 0.05 * i + 0.01 * seed) for i in range(2)]
    out = {
        "mtvib": _metrics("mtvib", [mtvib], mtvib, mtvib["robustness"]),
        "uwl": _metrics("uwl", [uwl], uwl, uwl["robustness"]),
        "gs": _metrics("gs", [gs], gs, gs["robustness"]),
        "pareto_mtl": _metrics("pareto_mtl", prefs, None, None),
    }
    for metrics in out.values():
        metrics["seed"] = seed
    return out


@pytest.fixture()
def seed_dirs(tmp_path) -> list[str]:
    return [_write_report(str(tmp_path / f"seed{s}"), _seed_report(s)) for s in range(3)]


def _cell(header, rows, task, eta, column):
    row = next(r for r in rows if r[0] == task and r[1] == eta)
    return row[header.index(column)]


def test_accuracy_table_is_mean_and_sample_sd_over_seeds(seed_dirs):
    loaded = [seeds.load_report(d) for d in seed_dirs]
    header, rows = seeds.accuracy_table(loaded)
    assert header[:2] == ["task", "eta"]
    assert "Pareto MTL (pref 0)" in header and "Pareto MTL (pref 1)" in header
    # MTVIB top_left clean: 90, 91, 92 -> mean 91, sample sd 1.
    assert _cell(header, rows, "top_left", "0", "MTVIB") == "91.0 ± 1.0"
    # UWL bottom_right at eta 0.1: 89 - 10 - 1 + 2s -> 78, 80, 82 -> sd 2.
    assert _cell(header, rows, "bottom_right", "0.1", "UWL") == "80.0 ± 2.0"
    # Pareto MTL preference 1: 85 + s -> 86.
    assert _cell(header, rows, "top_left", "0", "Pareto MTL (pref 1)") == "86.0 ± 1.0"
    # Restricting the methods keeps the experiment order.
    header, _ = seeds.accuracy_table(loaded, ["uwl", "mtvib"])
    assert header == ["task", "eta", "UWL", "MTVIB"]


def test_paired_differences_count_the_seeds_each_way(seed_dirs):
    loaded = [seeds.load_report(d) for d in seed_dirs]
    header, rows = seeds.paired_differences(loaded, [("mtvib", "uwl"), ("mtvib", "gs")])
    assert header == ["task", "eta", "MTVIB − UWL", "MTVIB − GS"]
    # +1, 0, -1 points: mean 0, one seed ahead (a tie is not ahead).
    assert _cell(header, rows, "top_left", "0", "MTVIB − UWL") == "+0.0 [-1.0, +1.0] 1/3"
    # MTVIB - GS = 6, 7, 8 points in every cell.
    assert _cell(header, rows, "joint", "0.3", "MTVIB − GS") == "+7.0 [+6.0, +8.0] 3/3"
    with pytest.raises(ValueError, match="pareto_mtl has 2 models"):
        seeds.paired_differences(loaded, [("pareto_mtl", "gs")])


def test_hypervolume_table_matches_front_hypervolumes_per_seed(seed_dirs):
    loaded = [seeds.load_report(d) for d in seed_dirs]
    header, rows = seeds.hypervolume_table(loaded, ["gs", "pareto_mtl"])
    expected = [100 * reports.front_hypervolumes({m: r[m] for m in ("gs", "pareto_mtl")})[
        "methods"]["pareto_mtl"]["error_space"] for r in loaded]
    pareto = next(r for r in rows if r[0] == "Pareto MTL")
    assert pareto[1] == "2"
    assert pareto[header.index("error-space HV per seed")] == ", ".join(
        f"{e:.1f}" for e in expected)
    assert pareto[header.index("seeds ahead of")] == "GS 3/3"
    assert next(r for r in rows if r[0] == "GS")[-1] == "Pareto MTL 0/3"


def test_missing_runs_and_methods_are_named(seed_dirs, tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished run"):
        seeds.load_report(str(tmp_path / "empty"))
    partial = _write_report(str(tmp_path / "partial"), {"gs": _seed_report(3)["gs"]})
    loaded = [seeds.load_report(d) for d in [*seed_dirs, partial]]
    with pytest.raises(ValueError, match="mtvib are not in every report"):
        seeds.accuracy_table(loaded, ["mtvib"])
    # Without a method list, only the methods common to every report are tabulated.
    header, _ = seeds.accuracy_table(loaded)
    assert header == ["task", "eta", "GS"]


def test_seed_summary_command(seed_dirs, tmp_path):
    out = tmp_path / "summary.md"
    script = os.path.join(REPO, "scripts", "seed_summary.py")
    result = subprocess.run(
        [sys.executable, script, f"--report_dirs={','.join(seed_dirs)}",
         "--compare=mtvib:uwl", f"--output={out}"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == out.read_text(encoding="utf-8")
    assert result.stdout.startswith("Seeds: 0, 1, 2 (3 reports")
    tables = _parse_markdown_table(result.stdout)
    assert ["top_left", "0", "+0.0 [-1.0, +1.0] 1/3"] in tables
    bad = subprocess.run(
        [sys.executable, script, f"--report_dirs={seed_dirs[0]}", "--compare=mtvib"],
        capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2
    assert "not of the form A:B" in bad.stderr
    assert not os.path.exists(tmp_path / "other.md")
