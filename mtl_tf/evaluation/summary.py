"""The text summary a command prints at the end of a run or a re-evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtl_tf.evaluation import units
from mtl_tf.tasks import TaskSpec, specs_from_json


def format_summary(metrics: dict, task_names: Sequence[str] | None = None) -> str:
    """A small text table of per-task test accuracy (%; regression tasks: NME or MAE in
    their own units, `mtl_tf.evaluation.units`) for the end of a CLI run. Joint accuracy
    counts the classification tasks only."""
    if metrics["dataset"] == "synthetic":
        solutions = np.asarray(metrics["synthetic"]["solutions"])
        lines = [f"Synthetic example ({metrics['method']}): objective values (f1, f2)"]
        lines += [f"  {i:>2}: ({f1:.3f}, {f2:.3f})" for i, (f1, f2) in enumerate(solutions)]
        return "\n".join(lines)
    # Say what the numbers are when a regression error sits beside the accuracies.
    error_note = ("; regression tasks: MAE in the target's own units, NME a ratio, not %; "
                  "lower is better" if any(m.get("error") for m in metrics["models"]) else "")
    lines = [f"Test accuracy ({metrics['method']} on {metrics['dataset']}, inference "
             f"mode{error_note}):"]
    specs = {s.name: s for s in specs_from_json(metrics.get("task_specs") or ())}
    for model in metrics["models"]:
        parts = [f"{t} {a:.2%}" for t, a in model["accuracy"].items()]
        # Regression tasks: their main error (NME for landmarks, else MAE) in their own
        # units, as the report's table writes it (`units.format_error`), never in percent.
        for task, errors in (model.get("error") or {}).items():
            metric, value = _main_error(task, errors, specs)
            parts.append(f"{task} {metric.upper()} {units.format_error(value)}")
        joint = model.get("joint_accuracy")
        tail = f"  joint {joint:.2%}" if joint is not None and len(parts) > 1 else ""
        lines.append(f"  {model['name']:<12} " + "  ".join(parts) + tail)
    for model in metrics["models"]:
        for key in ("robustness", "robustness_protocol"):
            if model.get(key):
                lines += _robustness_lines(model["name"], model[key])
    if "grid" in metrics:
        best = metrics["grid"]["best_index"]
        lines.append(f"  (best of {len(metrics['grid']['points'])} grid points by validation "
                     f"joint accuracy: point {best})")
    if metrics.get("joint_accuracy") is not None and len(metrics["models"]) > 1:
        lines.append(f"  {'joint (all tasks right)':<12} {metrics['joint_accuracy']:.2%}")
    return "\n".join(lines)


def _main_error(task: str, errors: dict, specs: dict[str, TaskSpec]) -> tuple[str, float]:
    # (metric, value) a regression task is shown by: its spec's `error_metric` (NME for
    # landmarks, else MAE); a result without specs (a SavedModel's) has NME only for
    # landmarks, the one task that has it.
    spec = specs.get(task)
    metric = spec.error_metric if spec is not None else ("nme" if "nme" in errors else "mae")
    return str(metric), errors[metric]


def _robustness_lines(name: str, robustness: dict) -> list[str]:
    """The accuracy at every eta under one protocol, and its zero-gradient fractions."""
    protocol = robustness.get("protocol") or {}
    label = f"{robustness['attack']} [{protocol.get('name', 'standard')}]"
    cells = []
    for key, accs in robustness["accuracy"].items():
        joint = (robustness.get("joint_accuracy") or {}).get(key)
        errors = (robustness.get("error") or {}).get(key, {})
        text = "/".join([f"{a:.1%}" for a in accs.values()]
                        + [f"{t} {robustness['error_metric'][t].upper()} "
                           f"{units.format_error(e)}" for t, e in errors.items()])
        cells.append(f"{key}: {text}" + (f" (joint {joint:.1%})" if joint is not None
                                          and len(accs) > 1 else ""))
    eta_units = " (standardised units)" if protocol.get("eta_units") == "standardized" else ""
    lines = [f"  {name:<12} {label} eta{eta_units} " + ", ".join(cells)]
    zero = robustness.get("zero_gradient_fraction")
    if zero:
        parts = [f"{t} {f:.1%}" for t, f in zero["tasks"].items()]
        if zero.get("pair") is not None:
            parts.append(f"pair {zero['pair']:.1%}")
        lines.append(f"  {'':<12} zero input gradient (never perturbed): " + ", ".join(parts))
    return lines
