"""How a task's test score is written for a reader: the one convention every output uses.

* Classification: accuracy, a fraction of examples, shown in percent with one decimal
  ("94.8"), labelled "(%)" (MTVIB Tables III-V).
* Regression: its error (`TaskSpec.error_metric`) in the target's own units, never x100
  and never "%": MAE / RMSE in the units of the target (a CSV column of kilograms: an MAE
  of 0.0131 is 0.0131 kg), NME (TCDCN §4: mean point error / inter-ocular distance) as the
  plain ratio (0.188). Three significant figures in positional notation (`format_error`),
  so that 0.0131 and 1230 both read without an exponent. Every label says which metric
  and that lower is better (`quantity_label`).

The table, the figures (front, robustness curves, example captions), the printed summary,
the seed summary and TensorBoard's figures all format through this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from mtl_tf.tasks import ERROR_METRIC_UNITS

__all__ = [
    "NA",
    "error_label",
    "error_unit",
    "errors_description",
    "format_error",
    "format_percent",
    "format_score",
    "plot_scale",
    "quantity_label",
]

NA = "n/a"
# Significant figures of a regression error: enough to tell 0.0131 from 0.0135 and to
# read a difference between methods, without pretending to test-set precision beyond it.
ERROR_DIGITS = 3


def format_percent(value: float | None) -> str:
    """A fraction (an accuracy) as a cell: percent with one decimal ("94.8"), `NA` if
    missing."""
    return NA if value is None or not math.isfinite(value) else f"{100.0 * value:.1f}"


def format_error(value: float | None) -> str:
    """A regression error in its own units: `ERROR_DIGITS` significant figures,
    positional ("0.0131", "0.500", "16.0"; all integer digits of a larger one, "1234"),
    `NA` if missing."""
    if value is None or not math.isfinite(value):
        return NA
    if value == 0:
        return "0"
    # Decimals for ERROR_DIGITS significant figures; never fewer than 0, so a large error
    # keeps its integer digits (1234.5 -> "1234") instead of an exponent ("1.23e+03").
    # (numpy's format_float_positional(fractional=False) drops a trailing zero of 0.5.)
    decimals = max(0, ERROR_DIGITS - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def format_score(value: float | None, metric: str | None) -> str:
    """`value` as its task shows it: an accuracy in percent (`metric` None), else a
    regression error in its own units."""
    return format_percent(value) if metric is None else format_error(value)


def plot_scale(metric: str | None) -> float:
    """The factor from a stored score to a plotted one: 100 for an accuracy (percent),
    1 for a regression error (its own units)."""
    return 100.0 if metric is None else 1.0


def error_unit(metric: str) -> str:
    """What `metric`'s number is measured in ("target's units", "ratio to the inter-ocular
    distance"); "" for a metric without a declared unit."""
    return ERROR_METRIC_UNITS.get(metric, "")


def error_label(metric: str) -> str:
    """A regression error's name, unit and direction: "MAE (target's units, lower is
    better)"."""
    unit = error_unit(metric)
    return f"{metric.upper()} ({unit + ', ' if unit else ''}lower is better)"


def quantity_label(task: str, metric: str | None) -> str:
    """How a figure's axis names what it plots for `task`: "species test accuracy (%)",
    or for a regression task (`metric` its main error metric) "weight test MAE (target's
    units, lower is better)"."""
    if metric is None:
        return f"{task} test accuracy (%)"
    return f"{task} test {error_label(metric)}"


def errors_description(metrics: Iterable[str]) -> str:
    """The units of the given error metrics, each once, in order: "MAE: target's units,
    NME: ratio to the inter-ocular distance"."""
    return ", ".join(f"{m.upper()}: {error_unit(m)}" if error_unit(m) else m.upper()
                     for m in dict.fromkeys(metrics))
