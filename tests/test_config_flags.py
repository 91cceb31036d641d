"""RunConfig and the flags are one list: every field has exactly one flag of the same name
and default, every flag that is a setting is a field, and `config_from_flags` sets every
field from its flag. A field added without its flag (or a flag without its field) fails
here, not in a user's run."""

from __future__ import annotations

import dataclasses
import types
import typing

import pytest
from absl import flags as absl_flags

from mtl_tf.cli.flags import definitions
from mtl_tf.config import RunConfig

FLAGS = absl_flags.FLAGS
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
FIELD_TYPES = typing.get_type_hints(RunConfig)

# The flags that are no setting of a run, written out here on purpose: a new flag must be
# either a RunConfig field or added to this list (and definitions.NOT_SETTINGS) knowingly.
NOT_SETTINGS = {
    # modes, and what they work on
    "mode", "eval_only", "export_only", "run_dir", "saved_model", "experiment", "report_dir",
    "methods",
    # where a finished run is copied to
    "export_dir",
    # diagnostics: what the process prints, not what it computes
    "tf_log_level", "traceback", "version",
}


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


def _project_flags() -> dict[str, absl_flags.Flag]:
    return {f.name: f for f in definitions.project_flags()}


def _as_field(value):
    # A list flag holds strings; the field a tuple of numbers (--tasks: of names).
    if not isinstance(value, list):
        return value
    try:
        return tuple(float(v) for v in value)
    except ValueError:
        return tuple(value)


def test_not_settings_is_the_explicit_list():
    assert set(definitions.NOT_SETTINGS) == NOT_SETTINGS


def test_every_field_has_its_flag_and_every_setting_flag_its_field():
    project = _project_flags()
    missing = sorted(set(FIELDS) - set(project))
    assert not missing, f"RunConfig fields without a flag: {missing}"
    settings = set(project) - NOT_SETTINGS
    orphans = sorted(settings - set(FIELDS))
    assert not orphans, f"flags that set nothing (add a RunConfig field or list them): {orphans}"
    assert not NOT_SETTINGS & set(FIELDS), "a field cannot also be a non-setting flag"
    assert NOT_SETTINGS <= set(project), sorted(NOT_SETTINGS - set(project))


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_flag_default_is_the_field_default(name):
    flag = FLAGS[name]
    if name == "output_dir":
        # Unset, the run directory is named after the run.
        assert flag.default is None
        return
    assert _as_field(flag.default) == FIELDS[name].default, (
        f"--{name} defaults to {flag.default!r}, RunConfig.{name} to {FIELDS[name].default!r}")


_PARSER_TYPES = {
    absl_flags.BooleanParser: bool, absl_flags.IntegerParser: int,
    absl_flags.FloatParser: float, absl_flags.EnumParser: str, absl_flags.ListParser: tuple,
}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_flag_type_is_the_field_type(name):
    hint = FIELD_TYPES[name]
    # `X | None` -> {X}; `tuple[float, ...]` -> {tuple}.
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    field_types = {typing.get_origin(t) or t for t in members} - {type(None)}
    (field_type,) = field_types
    flag_type = _PARSER_TYPES.get(type(FLAGS[name].parser), str)
    assert flag_type is field_type, f"--{name} parses {flag_type}, the field is {hint}"


# String flags whose validator accepts only some strings: a valid non-default value each.
# Values that must agree with the others: --tasks and --image_size apply to MTFL, whose
# two chosen tasks match the two --task_weights; backbone options need an application.
_VALID_STRINGS = {"tb_update_freq": "10", "dataset": "mtfl", "tasks": "gender,landmarks",
                  "preferences": "1:0,1:1,0:1",
                  "image_size": "36", "backbone": "mobilenet_v2_035"}


def _other_value(flag: absl_flags.Flag) -> str:
    """A valid command-line value of `flag` that differs from its default."""
    parser, default = flag.parser, flag.default
    if flag.name in _VALID_STRINGS:
        return _VALID_STRINGS[flag.name]
    if isinstance(parser, absl_flags.BooleanParser):
        return str(not default).lower()
    if isinstance(parser, absl_flags.EnumParser):
        return next(v for v in parser.enum_values if v != default)
    if isinstance(parser, absl_flags.ListParser):
        return "0.25,0.5"
    if isinstance(parser, absl_flags.IntegerParser):
        value = 1 if default is None else default + 1
        if parser.upper_bound is not None and value > parser.upper_bound:
            value = default - 1
        return str(value)
    if isinstance(parser, absl_flags.FloatParser):
        return str(0.5 if not default else default / 2)
    return f"/tmp/{flag.name}"


# Fields whose non-default value contradicts another's test value (--eta_units=standardized
# needs a data set with a known std, --tasks needs MTFL; --weight_init=pytorch would
# discard --backbone_weights=imagenet): set in a parse of their own, with the flags they
# need.
_SEPARATE = {"eta_units": ["--dataset=multi_mnist"], "weight_init": []}


def test_config_from_flags_sets_every_field_from_its_flag():
    together = [name for name in FIELDS if name not in _SEPARATE]
    parses = [(together, [])] + [([name], extra) for name, extra in _SEPARATE.items()]
    for names, extra in parses:
        args = {name: _other_value(FLAGS[name]) for name in names}
        FLAGS.unparse_flags()
        FLAGS(["prog", *(f"--{name}={value}" for name, value in args.items()), *extra])
        config = definitions.config_from_flags()
        for name in names:
            expected = _as_field(FLAGS[name].value)
            assert getattr(config, name) == expected, name
            assert expected != FIELDS[name].default, f"--{name}: the test value is the default"
    FLAGS.unparse_flags()


def test_defaults_give_the_default_config_and_output_dir_is_named_after_the_run():
    FLAGS(["prog"])
    assert definitions.config_from_flags() == dataclasses.replace(
        RunConfig(), output_dir="runs/gs-multi_mnist-seed0")
    FLAGS.unparse_flags()
    FLAGS(["prog", "--method=mgda", "--dataset=multi_fashion", "--seed=4"])
    assert definitions.config_from_flags().output_dir == "runs/mgda-multi_fashion-seed4"


def test_flagfile_holds_exactly_the_settings():
    FLAGS(["prog", "--encoder=vib", "--data_dir=/d", "--preference_index=1",
           "--pgd_step_size=0.01", "--task_weights=1,1", "--output_dir=o", "--preferences=1:0,0:1",
           "--tasks=top_left,bottom_right"])
    written = {line.split("=")[0].lstrip("-").removeprefix("no")
               for line in definitions.flagfile_text().splitlines()}
    assert written == set(FIELDS)


def test_gradnorm_defaults_come_from_run_config_alone():
    from mtl_tf.weighting.gradnorm import GradNormWeighting

    weighting = GradNormWeighting.from_config(2, RunConfig())
    assert (weighting.alpha, weighting.learning_rate) == (
        RunConfig.gradnorm_alpha, RunConfig.gradnorm_lr)
    weighting = GradNormWeighting.from_config(2, RunConfig(gradnorm_alpha=0.5, gradnorm_lr=0.1))
    assert (weighting.alpha, weighting.learning_rate) == (0.5, 0.1)
    # No fallback default of its own: a config without the fields is an error, not 1.5.
    with pytest.raises(AttributeError, match="gradnorm_alpha"):
        GradNormWeighting.from_config(2, object())
    assert FLAGS["gradnorm_alpha"].default == RunConfig.gradnorm_alpha
    assert FLAGS["gradnorm_lr"].default == RunConfig.gradnorm_lr
