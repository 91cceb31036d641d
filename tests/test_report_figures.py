"""Report figures a reader can read (issue #17): what can be checked without eyes.

One colour and marker per method in every report, Pareto MTL's preferences labelled and
joined in preference order, single-task reference lines, covered markers made visible,
legends outside the data, a log joint-accuracy axis, and a caption (and README note) when
accuracy rises with eta.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba

from mtl_tf.evaluation import reports
from mtl_tf.evaluation.reports import canvas, figures, fronts

TASKS = ("top_left", "bottom_right")
ETAS = ("0", "0.1", "0.3")


# ----------------------------------------------------------------------------- fakes
def _robustness(curve: dict[str, list[float]], joint: list[float] | None) -> dict:
    # curve: task -> accuracy at each of ETAS.
    return {
        "attack": "fgsm",
        "accuracy": {e: {t: curve[t][i] for t in TASKS} for i, e in enumerate(ETAS)},
        "joint_accuracy": None if joint is None else dict(zip(ETAS, joint, strict=True)),
    }


def _falling(a: float, b: float) -> dict[str, list[float]]:
    return {"top_left": [a, a - 0.2, a - 0.4], "bottom_right": [b, b - 0.2, b - 0.4]}


def _single(method: str, a: float, b: float, *, curve=None) -> dict:
    # One shared model (or STL/STVIB's per-task models combined): one column.
    curve = curve or _falling(a, b)
    single_task = method in ("stl", "stvib")
    joint = None if single_task else [a * b, a * b / 2, a * b / 4]
    models = ([{"name": f"{method}_{t}", "accuracy": {t: curve[t][0]}} for t in TASKS]
              if single_task else [{"name": method, "accuracy": {t: curve[t][0] for t in TASKS}}])
    return {"method": method, "dataset": "multi_mnist", "tasks": list(TASKS),
            "accuracy": {t: curve[t][0] for t in TASKS}, "joint_accuracy": a * b,
            "robustness": _robustness(curve, joint), "models": models}


def _pareto(order=(0, 1, 2, 3, 4)) -> dict:
    # Five preference models on a front bulging to the top right (as trained ones do),
    # listed in `order`.
    models = []
    for k in order:
        a, b = 0.55 + 0.07 * k, 0.85 - 0.02 * k * k
        models.append({"name": f"preference_{k}", "accuracy": {"top_left": a, "bottom_right": b},
                       "robustness": _robustness(_falling(a, b), [a * b, a * b / 2, a * b / 4])})
    return {"method": "pareto_mtl", "dataset": "multi_mnist", "tasks": list(TASKS),
            "accuracy": None, "joint_accuracy": None, "robustness": None, "models": models}


def _report_a() -> dict[str, dict]:
    return {"stl": _single("stl", 0.80, 0.75), "gs": _single("gs", 0.77, 0.72),
            "pareto_mtl": _pareto()}


def _report_b() -> dict[str, dict]:
    # Other methods, GS in another position of the report.
    return {"mgda": _single("mgda", 0.70, 0.70), "uwl": _single("uwl", 0.74, 0.71),
            "gs": _single("gs", 0.78, 0.73), "my_label": _single("my_label", 0.6, 0.6)}


@pytest.fixture
def drawn(monkeypatch):
    """Captures every figure `canvas.save_png` writes: path -> Figure (drawn, Agg)."""
    figures_by_path = {}
    save = canvas.save_png

    def capture(fig, path):
        data = save(fig, path)
        FigureCanvasAgg(fig)
        fig.draw_without_rendering()
        figures_by_path[os.path.basename(path)] = fig
        return data

    monkeypatch.setattr(canvas, "save_png", capture)
    return figures_by_path


def _lines_by_label(fig) -> dict[str, object]:
    return {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}


def _caption(fig) -> str:
    return "\n".join(t.get_text() for t in fig.texts if t.get_gid() == "caption")


def _overlaps(a, b) -> bool:
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


# ----------------------------------------------------------------------------- colours
def test_method_colour_follows_report_order_not_the_report():
    order = reports.method_order()
    assert [canvas.method_colour(m) for m in order] == list(canvas.METHOD_COLOURS[:len(order)])
    assert len(set(canvas.METHOD_COLOURS[:len(order)])) == len(order)
    assert len({canvas.method_marker(m) for m in order}) == len(order)
    # A free-form label never takes a known method's colour or marker; two labels differ.
    labels = ["seed 0", "seed 1"]
    colours = [canvas.method_colour(x, labels) for x in labels]
    assert not set(colours) & set(canvas.METHOD_COLOURS) and colours[0] != colours[1]
    assert canvas.method_marker("seed 0", labels) not in canvas.MARKERS


def test_same_colour_per_method_across_two_reports(tmp_path, drawn):
    for name, metrics in (("a", _report_a()), ("b", _report_b())):
        os.makedirs(tmp_path / name)
        figures.plot_robustness_curves(metrics, str(tmp_path / name / "robustness.png"))
        drawn[f"{name}_robustness"] = drawn.pop("robustness.png")
        fronts.plot_accuracy_front(metrics, str(tmp_path / name / "front.png"))
        drawn[f"{name}_front"] = drawn.pop("front.png")
    gs_a = _lines_by_label(drawn["a_robustness"])["GS"]
    gs_b = _lines_by_label(drawn["b_robustness"])["GS"]
    assert to_rgba(gs_a.get_color()) == to_rgba(gs_b.get_color()) == to_rgba(
        canvas.method_colour("gs"))
    assert gs_a.get_marker() == gs_b.get_marker() == canvas.method_marker("gs")
    # The front's legend too.
    for key in ("a_front", "b_front"):
        legend = drawn[key].axes[0].get_legend()
        handles = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles,
                           strict=True))
        gs = next(h for label, h in handles.items() if label.startswith("GS"))
        assert to_rgba(gs.get_markerfacecolor()) == to_rgba(canvas.method_colour("gs"))


# ----------------------------------------------------------------------------- front
def test_front_labels_and_joins_pareto_preferences_in_order(tmp_path, drawn):
    metrics = _report_a()
    metrics["pareto_mtl"] = _pareto(order=(3, 0, 4, 1, 2))  # trained in another order
    fronts.plot_accuracy_front(metrics, str(tmp_path / "front.png"))
    ax = drawn["front.png"].axes[0]
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "preference"]
    assert sorted(labels) == ["p0", "p1", "p2", "p3", "p4"]
    # A line of Pareto MTL's colour through its points, in preference order.
    colour = to_rgba(canvas.method_colour("pareto_mtl"))
    joined = [line for line in ax.get_lines()
              if to_rgba(line.get_color()) == colour and len(line.get_xdata()) == 5]
    assert len(joined) == 1
    expected_x = [100 * (0.55 + 0.07 * k) for k in range(5)]
    np.testing.assert_allclose(joined[0].get_xdata(), expected_x)
    assert "p0-p4" in _caption(drawn["front.png"])


def test_front_draws_single_task_reference_lines(tmp_path, drawn):
    fronts.plot_accuracy_front(_report_a(), str(tmp_path / "front.png"))
    ax = drawn["front.png"].axes[0]
    colour = to_rgba(canvas.method_colour("stl"))
    dashed = [line for line in ax.get_lines()
              if line.get_linestyle() == "--" and to_rgba(line.get_color()) == colour]
    # axvline: constant x data; axhline: constant y data.
    xs = [float(line.get_xdata()[0]) for line in dashed
          if line.get_xdata()[0] == line.get_xdata()[-1]]
    ys = [float(line.get_ydata()[0]) for line in dashed
          if line.get_ydata()[0] == line.get_ydata()[-1]]
    assert xs == pytest.approx([80.0]) and ys == pytest.approx([75.0])


def test_front_rings_a_marker_that_would_hide_another(tmp_path, drawn):
    metrics = _report_a()
    metrics["uwl"] = _single("uwl", 0.7705, 0.7195)  # on top of GS
    fronts.plot_accuracy_front(metrics, str(tmp_path / "front.png"))
    fig = drawn["front.png"]
    ax = fig.axes[0]
    hollow = [c for c in ax.collections
              if len(c.get_facecolors()) == 0 or c.get_facecolors()[0][3] == 0]
    assert len(hollow) == 1
    np.testing.assert_allclose(hollow[0].get_offsets()[0], [77.05, 71.95])
    assert "Hollow marker" in _caption(fig)
    # The crowd is repeated, zoomed, in an inset that covers no marker of the main axes.
    assert len(ax.child_axes) == 1 and "Inset" in _caption(fig)
    inset = ax.child_axes[0].get_window_extent()
    for collection in ax.collections:
        x, y = ax.transData.transform(collection.get_offsets()[0])
        assert not (inset.x0 <= x <= inset.x1 and inset.y0 <= y <= inset.y1)


def test_front_legend_outside_the_axes(tmp_path, drawn):
    fronts.plot_accuracy_front(_report_a(), str(tmp_path / "front.png"))
    fig = drawn["front.png"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    assert not _overlaps(legend.get_window_extent(), ax.get_window_extent())
    # and inside the saved image (tight bounding box): right of the axes, not cut off.
    assert legend.get_window_extent().x1 <= fig.get_tightbbox().x1 * fig.dpi + 1


# ----------------------------------------------------------------------------- curves
def test_robustness_legend_outside_and_preferences_distinguishable(tmp_path, drawn):
    figures.plot_robustness_curves(_report_a(), str(tmp_path / "robustness.png"))
    fig = drawn["robustness.png"]
    assert len(fig.legends) == 1
    legend_box = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not _overlaps(legend_box, ax.get_window_extent())
    lines = _lines_by_label(fig)
    prefs = [lines[f"Pareto MTL (pref {k})"] for k in range(5)]
    colours = [to_rgba(line.get_color()) for line in prefs]
    assert len(set(colours)) == 5
    # Light to dark in preference order, all within Pareto MTL's colour family.
    lightness = [sum(c[:3]) for c in colours]
    assert lightness == sorted(lightness, reverse=True)
    assert lines["STL"].get_linestyle() == "--" and lines["GS"].get_linestyle() == "-"


def test_joint_accuracy_log_scale_and_legend_outside(tmp_path, drawn):
    figures.plot_joint_accuracy(_report_a(), str(tmp_path / "joint_accuracy.png"))
    fig = drawn["joint_accuracy.png"]
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    assert ax.get_ylim()[0] == 0  # 0 % has a place on the axis
    assert not _overlaps(ax.get_legend().get_window_extent(), ax.get_window_extent())
    assert "Log y axis" in _caption(fig)


# ----------------------------------------------------------------------------- artefact
def _rising() -> dict[str, dict]:
    metrics = _report_a()
    # MTVIB-on-MTFL-like: falls at eta 0.1, then climbs above its clean accuracy.
    curve = {"top_left": [0.80, 0.60, 0.83], "bottom_right": [0.75, 0.55, 0.50]}
    metrics["mtvib"] = _single("mtvib", 0.80, 0.75, curve=curve)
    return metrics


def test_rising_with_eta_detected_from_the_data():
    assert figures.rising_with_eta(_report_a()) == []
    rises = figures.rising_with_eta(_rising())
    assert [(r["column"], r["task"]) for r in rises] == [("MTVIB", "top_left")]
    assert rises[0]["from_eta"] == "0.1" and rises[0]["to_eta"] == "0.3"
    # A rise back from a small eta counts too (MTFL: below the clean accuracy throughout).
    metrics = _report_a()
    metrics["mtvib"] = _single("mtvib", 0.9, 0.75, curve={
        "top_left": [0.90, 0.60, 0.80], "bottom_right": [0.75, 0.55, 0.50]})
    assert [r["task"] for r in figures.rising_with_eta(metrics)] == ["top_left"]
    # One point or less is noise.
    metrics["mtvib"] = _single("mtvib", 0.9, 0.75, curve={
        "top_left": [0.90, 0.60, 0.61], "bottom_right": [0.75, 0.55, 0.50]})
    assert figures.rising_with_eta(metrics) == []


def test_caption_and_readme_say_when_accuracy_rises_with_eta(tmp_path, drawn):
    figures.plot_robustness_curves(_report_a(), str(tmp_path / "robustness.png"))
    assert "FGSM artefact" not in _caption(drawn["robustness.png"])
    paths = reports.write_report(_rising(), str(tmp_path / "report"))
    caption = _caption(drawn["robustness.png"])
    assert "FGSM artefact" in caption and "MTVIB: top_left" in caption
    with open(paths["README.md"], encoding="utf-8") as f:
        readme = f.read()
    assert "FGSM artefact" in readme and "MTVIB: top_left" in readme
    plain = reports.write_report(_report_a(), str(tmp_path / "plain"))
    with open(plain["README.md"], encoding="utf-8") as f:
        assert "FGSM artefact" not in f.read()


def test_figures_keep_the_table_numbers(tmp_path, drawn):
    # Styling only: every curve still plots the table's cells.
    metrics = _report_a()
    header, rows = reports.robustness_table(metrics)
    figures.plot_robustness_curves(metrics, str(tmp_path / "robustness.png"))
    lines = _lines_by_label(drawn["robustness.png"])
    fig_axes = drawn["robustness.png"].axes
    for row in rows:
        task, eta = row[0], float(row[1])
        if task == reports.JOINT_ROW:
            continue
        ax = fig_axes[list(TASKS).index(task)]
        for label, cell in zip(header[2:], row[2:], strict=True):
            line = next(x for x in ax.get_lines() if x.get_label() == label)
            y = dict(zip(line.get_xdata(), line.get_ydata(), strict=True))[eta]
            assert f"{y:.1f}" == cell
    assert set(lines) == set(header[2:])
