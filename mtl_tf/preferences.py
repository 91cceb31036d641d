"""Reading Pareto MTL preference vectors a user gives (``--preferences``).

Pareto MTL (Lin et al., NeurIPS 2019) trains one model per preference vector u_k in
R^m_+ (eq. 6: the sub-region of the objective space closest to u_k). A user chooses them
to trace the front they care about, e.g. between one task and a group of others. Plain
Python (no numpy), so that the command line checks them before anything heavy loads;
`mtl_tf.weighting.preference_vectors` spreads K of them when none are given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def parse_preferences(texts: Sequence[str],
                      num_tasks: int | None = None) -> tuple[tuple[float, ...], ...]:
    """``--preferences`` values ("1:0:0", "1:1:1", ...) as K vectors of m weights.

    Each vector lists one non-negative weight per task, in the order of the tasks,
    separated by ':'; it is normalised to unit length when used (only its direction is a
    preference).

    Args:
      texts: one string per preference vector.
      num_tasks: m, when known: every vector must have m components.

    Raises:
      ValueError: naming the offending vector: not numbers, negative, infinite, all zero,
        of different lengths (or not m), duplicated directions, or fewer than two.
    """
    vectors = []
    for text in texts:
        try:
            vector = [float(v) for v in str(text).split(":")]
        except ValueError:
            raise ValueError(
                f"--preferences: {text!r} is not ':'-separated numbers; give one weight "
                "per task, e.g. --preferences=1:0,1:1,0:1") from None
        if not all(math.isfinite(v) and v >= 0 for v in vector) or sum(vector) <= 0:
            raise ValueError(
                f"--preferences: {text!r} must be finite non-negative weights, not all "
                "zero")
        vectors.append(vector)
    if len(vectors) < 2:
        raise ValueError("--preferences needs at least 2 vectors (one model each)")
    sizes = {len(v) for v in vectors}
    expected = num_tasks if num_tasks is not None else len(vectors[0])
    if sizes != {expected}:
        raise ValueError(
            f"--preferences: every vector needs one weight per task ({expected}), got "
            f"vectors of {', '.join(str(n) for n in sorted(sizes))}")
    for (i, a), b in ((ia, b) for ia in enumerate(vectors) for b in vectors[ia[0] + 1:]):
        # Same direction: |a| |b| = a . b (cos 1), up to rounding.
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        if dot >= (1 - 1e-12) * math.hypot(*a) * math.hypot(*b):
            raise ValueError(f"--preferences: {texts[i]!r} and another vector point the "
                             "same way (one sub-region twice); make them distinct")
    return tuple(tuple(v) for v in vectors)
