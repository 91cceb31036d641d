"""The text summary a command prints at the end of a run or a re-evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def format_summary(metrics: dict, task_names: Sequence[str] | None = None) -> str:
    """A small text table of per-task test accuracy (regression tasks: NME or MAE) for the
    end of a CLI run. Joint accuracy counts the classification tasks only."""
    if metrics["dataset"] == "synthetic":
        solutions = np.asarray(metrics["synthetic"]["solutions"])
        lines = [f"Synthetic example ({metrics['method']}): objective values (f1, f2)"]
        lines += [f"  {i:>2}: ({f1:.3f}, {f2:.3f})" for i, (f1, f2) in enumerate(solutions)]
        return "\n".join(lines)
    lines = [f"Test accuracy ({metrics['method']} on {metrics['dataset']}, inference mode):"]
    for model in metrics["models"]:
        parts = [f"{t} {a:.2%}" for t, a in model["accuracy"].items()]
        # Regression tasks: NME for landmarks, else MAE (their own units).
        parts += [f"{t} NME {e['nme']:.4f}" if "nme" in e else f"{t} MAE {e['mae']:.4g}"
                  for t, e in (model.get("error") or {}).items()]
        joint = model.get("joint_accuracy")
        tail = f"  joint {joint:.2%}" if joint is not None and len(parts) > 1 else ""
        lines.append(f"  {model['name']:<12} " + "  ".join(parts) + tail)
    for model in metrics["models"]:
        robustness = model.get("robustness")
        if not robustness:
            continue
        cells = []
        for key, accs in robustness["accuracy"].items():
            joint = (robustness.get("joint_accuracy") or {}).get(key)
            errors = (robustness.get("error") or {}).get(key, {})
            text = "/".join([f"{a:.1%}" for a in accs.values()]
                            + [f"{robustness['error_metric'][t]} {e:.3f}"
                               for t, e in errors.items()])
            cells.append(f"{key}: {text}" + (f" (joint {joint:.1%})" if joint is not None
                                              and len(accs) > 1 else ""))
        lines.append(f"  {model['name']:<12} {robustness['attack']} eta " + ", ".join(cells))
    if "grid" in metrics:
        best = metrics["grid"]["best_index"]
        lines.append(f"  (best of {len(metrics['grid']['points'])} grid points by validation "
                     f"joint accuracy: point {best})")
    if metrics.get("joint_accuracy") is not None and len(metrics["models"]) > 1:
        lines.append(f"  {'joint (all tasks right)':<12} {metrics['joint_accuracy']:.2%}")
    return "\n".join(lines)
