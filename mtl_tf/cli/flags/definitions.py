"""Every command-line flag of `mtl-tf` (and `main.py`), with its validation: the entry point
other code imports (`FLAGS`, `config_from_flags`, `flagfile_text`, `help_text`).

The flags are defined by topic in the sibling modules (`modes.py`, `data.py`, ...), which
`--help` lists in `TOPICS` order. Defining and checking them imports no TensorFlow (the
allowed names come from `mtl_tf.choices`), so an invalid value stops the program in a
fraction of a second, before any work, with one line naming the flag and what is allowed
(absl validators).

Every `RunConfig` field is a flag of the same name and default (`output_dir` excepted:
unset, it names the run directory after the run); every other flag is listed in
`NOT_SETTINGS`. `config_from_flags` is generated from `dataclasses.fields(RunConfig)`, and
`tests/test_config_flags.py` fails when a field lacks its flag or a flag its field. The
library itself never reads flags.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from absl import flags

from mtl_tf import user_data
from mtl_tf.cli.flags import (
    data,
    diagnostics,
    evaluation,
    model,
    modes,
    output,
    training,
    weighting,
)
from mtl_tf.config import RunConfig

__all__ = [
    "FLAGS",
    "NOT_SETTINGS",
    "TOPICS",
    "config_from_flags",
    "default_output_dir",
    "flag_value_as_field",
    "flagfile_text",
    "help_text",
    "project_flags",
]

FLAGS = flags.FLAGS

# The topic modules, in the order `--help` lists them.
TOPICS: tuple[types.ModuleType, ...] = (
    modes, data, model, training, weighting, evaluation, output, diagnostics,
)

# The flags that are not settings of a run, so have no RunConfig field: what to do
# instead of training one run (the modes and what they work on), where to export a copy,
# and the diagnostics, which change what the process prints, not what it computes.
# They are not written to a run's flags.txt either: replaying it must train the run again,
# not re-export it somewhere or turn into an export-only call.
NOT_SETTINGS: frozenset[str] = frozenset({
    "mode", "eval_only", "export_only", "run_dir", "saved_model", "experiment", "report_dir",
    "methods", "export_dir", "tf_log_level", "traceback", "version",
})

_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(RunConfig)


def project_flags() -> list[flags.Flag]:
    """Every flag this project defines (none of absl's or TensorFlow's), sorted by name."""
    found = [f for module in TOPICS for f in FLAGS.get_flags_for_module(module)]
    return sorted(found, key=lambda f: f.name)


def _register_finite_checks() -> None:
    # absl's bounds let nan through (every comparison with nan is False) and accept inf;
    # neither is a meaningful learning rate, weight, tolerance, step size or epoch bound,
    # and nan would reach config.json. One check covers every float flag, present and
    # future.
    for flag in project_flags():
        if isinstance(flag.parser, flags.FloatParser):
            flags.register_validator(
                flag.name, lambda value: value is None or math.isfinite(value),
                message=f"--{flag.name} must be a finite number (not nan or inf)")


_register_finite_checks()


def default_output_dir(method: str, dataset: str, seed: int) -> str:
    """The run directory when `--output_dir` is not given: one per method, data and seed."""
    # csv:PATH / tfds:NAME: a slug, not a path (`mtl_tf.user_data.dataset_slug`).
    return f"runs/{method}-{user_data.dataset_slug(dataset)}-seed{seed}"


def _tuple_item_type(hint: Any) -> type:
    # `tuple[float, ...]` or `tuple[float, ...] | None` -> float.
    for candidate in (hint, *typing.get_args(hint)):
        if typing.get_origin(candidate) is tuple:
            return typing.get_args(candidate)[0]
    raise TypeError(f"not a tuple type: {hint}")


def flag_value_as_field(name: str, value: Any) -> Any:
    """A flag's value as the `RunConfig` field of the same name holds it.

    absl list flags hold strings; the fields they set are tuples of numbers (their values
    were checked to be numbers by the flags' validators). Every other value is the
    field's as it is.

    Args:
      name: a `RunConfig` field name.
      value: the value of the flag of that name.
    """
    if isinstance(value, list):
        item_type = _tuple_item_type(_FIELD_TYPES[name])
        return tuple(item_type(v) for v in value)
    return value


def config_from_flags() -> RunConfig:
    """The `RunConfig` described by the parsed flags: each field from its flag."""
    values = {field.name: flag_value_as_field(field.name, FLAGS[field.name].value)
              for field in dataclasses.fields(RunConfig)}
    if values["output_dir"] is None:
        values["output_dir"] = default_output_dir(values["method"], values["dataset"],
                                                  values["seed"])
    return RunConfig(**values)


def flagfile_text() -> str:
    """The run's settings, one `--name=value` per line: a flagfile reproducing the run."""
    lines = []
    for flag in project_flags():
        if flag.name in NOT_SETTINGS:
            continue
        serialized = flag.serialize()
        if serialized:  # unset optional flags serialize to ""
            lines.append(serialized)
    return "\n".join(lines) + "\n"


def help_text() -> str:
    """`--help`: the project's flags grouped by topic, in absl's format."""
    sections = []
    for module in TOPICS:
        # module_help renders a module's own flags under a "\n<module name>:" heading;
        # the heading becomes the topic's title (and where its flags are defined).
        rendered = FLAGS.module_help(module).lstrip("\n")
        heading, _, body = rendered.partition("\n")
        path = module.__name__.replace(".", "/") + ".py"
        sections.append(f"{module.TITLE} ({path}):\n{body}")
    return "\n\n".join(sections)
