"""Paper methods as named combinations of an encoder and a weighting strategy.

A method is data, not code: `mtvib` is the VIB encoder with uncertainty weighting, `uwl`
the deterministic encoder with the same weighting, and so on. `--encoder` overrides a
method's encoder, so combinations no paper tried (VIB + MGDA, VIB + Pareto MTL) need no
new code.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One named method.

    Attributes:
      name: the `--method` value.
      encoder: default encoder kind ("deterministic" or "vib").
      weighting: registered weighting strategy name.
      display_name: how tables, figures and reports name it (e.g. "Pareto MTL").
      single_task: train one model per task (STL, STVIB) instead of one shared model.
      grid_search: its fixed task weights can be grid-searched (`--grid_points`).
      description: one line for `--help` and reports.
    """

    name: str
    encoder: str
    weighting: str
    display_name: str = ""
    single_task: bool = False
    grid_search: bool = False
    description: str = ""


# Report order: MTVIB Tables III-V's columns, then the Pareto MTL paper's baselines.
_ALL_METHODS = (
    MethodSpec("stl", "deterministic", "fixed", "STL", single_task=True,
               description="one single-task Small AlexNet per task (Table I(a))"),
    MethodSpec("stvib", "vib", "fixed", "STVIB", single_task=True,
               description="one single-task VIB model per task (Table I(c))"),
    MethodSpec("gs", "deterministic", "fixed", "GS", grid_search=True,
               description="linear scalarisation with fixed --task_weights (Table I(b))"),
    MethodSpec("uwl", "deterministic", "uncertainty", "UWL",
               description="homoscedastic uncertainty weighting (Kendall et al. 2018)"),
    MethodSpec("mtvib", "vib", "uncertainty", "MTVIB",
               description="MTVIB: VIB encoder + uncertainty weights (MTVIB eq. 23)"),
    MethodSpec("gradnorm", "deterministic", "gradnorm", "GradNorm",
               description="GradNorm (Chen et al. 2018)"),
    MethodSpec("mgda", "deterministic", "mgda", "MGDA",
               description="MOO-MTL / MGDA (Sener & Koltun 2018)"),
    MethodSpec("pareto_mtl", "deterministic", "pareto_mtl", "Pareto MTL",
               description="Pareto MTL (Lin et al. 2019, Algorithm 1)"),
)


def known_methods() -> dict[str, MethodSpec]:
    """Every method of the papers, by name, in report order, without loading the weighting
    strategies (TensorFlow): for reports and listings that only read method facts."""
    return {m.name: m for m in _ALL_METHODS}


def available_methods() -> dict[str, MethodSpec]:
    """The methods whose weighting strategy is implemented, by name, in report order
    (MTVIB Tables III-V's columns, then the Pareto MTL paper's other baselines)."""
    # Lazy: the method table is plain data that reports read without TensorFlow; only
    # asking which strategies are implemented loads them.
    from mtl_tf import weighting as weighting_lib

    strategies = weighting_lib.registered()
    return {m.name: m for m in _ALL_METHODS if m.weighting in strategies}


def get_method(name: str) -> MethodSpec:
    """Looks up a method, with an error listing the allowed names."""
    methods = available_methods()
    if name not in methods:
        raise ValueError(f"unknown --method {name!r}; allowed: {', '.join(methods)}")
    return methods[name]
