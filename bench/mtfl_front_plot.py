"""MTFL landmarks vs attributes: every model of bench/mtfl_landmarks.sh in one plane.

x: landmark NME on the AFLW test images (lower is better); y: mean accuracy of the four
attributes (higher is better). Pareto MTL's preferences are joined in preference order;
the trivial baselines (mean training shape, training majority classes) are a cross.
Usage: python bench/mtfl_front_plot.py OUT_ROOT PNG [TITLE]
"""

from __future__ import annotations

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtfl_landmarks_table import DATA_DIR, baselines  # noqa: E402

ATTRIBUTES = ("gender", "smile", "glasses", "pose")
# (run directory prefix, legend label, marker); Pareto runs may be split per preference.
GROUPS = (("stl_landmarks", "STL landmarks (NME only)", "s"), ("gs", "GS, equal weights", "o"),
          ("gs_grid", "GS, grid search (MTVIB's baseline)", "p"),
          ("uwl", "UWL", "^"), ("mtvib", "MTVIB", "D"),
          ("pareto_scaled", "Pareto MTL, --pareto_loss_scale=initial", "*"),
          ("pareto_reference", "Pareto MTL, reference (raw losses)", "x"),
          ("pareto_standardized", "Pareto MTL, reference on standardized losses", "P"),
          ("pareto_unit", "Pareto MTL, --pareto_grad_normalization=l2", "v"))


def _group(name: str) -> str | None:
    """The group prefix a run directory belongs to: the longest that matches."""
    matches = [p for p, _, _ in GROUPS if name == p or name.startswith(p + "_")]
    return max(matches, key=len) if matches else None


def points(root: str, prefix: str) -> list[tuple[float, float | None, str]]:
    out = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "metrics.json")
        if _group(name) != prefix or not os.path.exists(path):
            continue
        for model in json.load(open(path, encoding="utf-8"))["models"]:
            nme = (model.get("error") or {}).get("landmarks", {}).get("nme")
            acc = model.get("accuracy") or {}
            mean = (100 * sum(acc[t] for t in ATTRIBUTES) / 4
                    if all(t in acc for t in ATTRIBUTES) else None)
            index = (model.get("preference_index") if "preference_index" in model
                     else len(out))
            out.append((nme, mean, str(index)))
    return sorted(out, key=lambda p: p[2])


def main() -> None:
    root, png = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "MTFL: landmarks vs the 4 attributes"
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for prefix, label, marker in GROUPS:
        pts = points(root, prefix)
        if not pts:
            continue
        if pts[0][1] is None:  # STL landmarks: no attributes; a vertical line at its NME
            ax.axvline(pts[0][0], color="grey", ls=":", label=f"{label}: {pts[0][0]:.3f}")
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        style = "-" if prefix.startswith("pareto") and len(pts) > 1 else ""
        ax.plot(xs, ys, marker=marker, ls=style, label=label)
        if prefix.startswith("pareto"):
            for x, y, index in pts:
                ax.annotate(index, (x, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=8)
    framing = "none"
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "config.json")
        if os.path.exists(path):
            framing = json.load(open(path, encoding="utf-8")).get("mtfl_framing", "none")
            break
    base = baselines(DATA_DIR, framing)
    trivial_attr = 100 * sum(base[t] for t in ATTRIBUTES) / len(ATTRIBUTES)
    ax.plot([base["nme"]], [trivial_attr], "k+", ms=12,
            label="trivial: mean shape, majority classes")
    ax.set_xlabel("landmark NME on AFLW (lower is better)")
    ax.set_ylabel("mean attribute accuracy, % (higher is better)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
