"""Paper methods as named combinations of an encoder and a weighting strategy.

A method is data, not code: `mtvib` is the VIB encoder with uncertainty weighting, `uwl`
the deterministic encoder with the same weighting, and so on. `--encoder` overrides a
method's encoder, so combinations no paper tried (VIB + MGDA, VIB + Pareto MTL) need no
new code.
"""

from __future__ import annotations

import dataclasses

from mtl_tf import weighting as weighting_lib


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One named method.

    Attributes:
      name: the `--method` value.
      encoder: default encoder kind ("deterministic" or "vib").
      weighting: registered weighting strategy name.
      single_task: train one model per task (STL, STVIB) instead of one shared model.
      description: one line for `--help` and reports.
    """

    name: str
    encoder: str
    weighting: str
    single_task: bool = False
    description: str = ""


_ALL_METHODS = (
    MethodSpec("gs", "deterministic", "fixed",
               description="linear scalarisation with fixed --task_weights (Table I(b))"),
    MethodSpec("stl", "deterministic", "fixed", single_task=True,
               description="one single-task Small AlexNet per task (Table I(a))"),
    MethodSpec("stvib", "vib", "fixed", single_task=True,
               description="one single-task VIB model per task (Table I(c))"),
    MethodSpec("uwl", "deterministic", "uncertainty",
               description="homoscedastic uncertainty weighting (Kendall et al. 2018)"),
    MethodSpec("mtvib", "vib", "uncertainty",
               description="MTVIB: VIB encoder + uncertainty weights (MTVIB eq. 23)"),
    MethodSpec("gradnorm", "deterministic", "gradnorm",
               description="GradNorm (Chen et al. 2018)"),
    MethodSpec("mgda", "deterministic", "mgda",
               description="MOO-MTL / MGDA (Sener & Koltun 2018)"),
    MethodSpec("pareto_mtl", "deterministic", "pareto_mtl",
               description="Pareto MTL (Lin et al. 2019, Algorithm 1)"),
)


def available_methods() -> dict[str, MethodSpec]:
    """The methods whose weighting strategy is implemented, by name."""
    strategies = weighting_lib.registered()
    return {m.name: m for m in _ALL_METHODS if m.weighting in strategies}


def get_method(name: str) -> MethodSpec:
    """Looks up a method, with an error listing the allowed names."""
    methods = available_methods()
    if name not in methods:
        raise ValueError(f"unknown --method {name!r}; allowed: {', '.join(methods)}")
    return methods[name]
