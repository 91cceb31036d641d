"""Task-weighting strategies, one per module, behind `mtl_tf.weighting.base.Weighting`.

Every module of this package is imported here so that its `@register` runs: adding a
strategy means adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from mtl_tf.weighting.base import GRADIENT_SOURCES, Weighting, register, registered

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base",):
        importlib.import_module(f"{__name__}.{_module.name}")


def build_weighting(name: str, num_tasks: int, config: Any = None) -> Weighting:
    """Instantiates the strategy registered as `name` for `num_tasks` tasks."""
    strategies = registered()
    if name not in strategies:
        raise ValueError(f"unknown weighting {name!r}; allowed: {', '.join(sorted(strategies))}")
    return strategies[name].from_config(num_tasks, config)


__all__ = ["GRADIENT_SOURCES", "Weighting", "build_weighting", "register", "registered"]
