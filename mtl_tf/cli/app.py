r"""mtl-tf: train, evaluate, export and report a multi-task method.

    mtl-tf                                           # quick run on the embedded sample
    mtl-tf --method=gs --dataset=multi_mnist --data_dir=../shared/data \
        --epochs=3 --train_size=20000 --test_size=5000 --output_dir=runs/x
    mtl-tf --mode=eval --run_dir=runs/x --attack=pgd # re-evaluate a finished run
    mtl-tf --mode=export --run_dir=runs/x            # export it for TensorFlow Serving
    mtl-tf --experiment=quick_multi_mnist            # a named experiment and its report
    mtl-tf --flagfile=flags/<experiment>.flags       # the papers' budgets (a checkout)

`python -m mtl_tf` and, in a checkout, `python main.py` are the same command. `--help`
lists this program's flags by topic; `--helpfull` adds absl's. Errors end in one line:
`error: ...` and exit status 2 for bad flags or input, 1 for an unexpected error
(`--traceback` shows it in full), 130 when interrupted (rerunning the same command
resumes).
"""

from __future__ import annotations

import logging as pylogging
import os
import signal
import sys

from absl import app, logging
from absl import flags as absl_flags

# Defines the flags; imports no TensorFlow, so a bad flag is answered at once.
from mtl_tf.cli.flags import definitions, modes

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_UNEXPECTED",
    "INTERRUPTED_MESSAGE",
    "command",
    "error_line",
    "main",
    "usage_text",
]

# Exit statuses: bad flags or input (as a usage error), a bug or an environment problem,
# and SIGINT (128 + 2, what a shell reports for a process killed by Ctrl-C).
EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 1
EXIT_INTERRUPTED = 130
INTERRUPTED_MESSAGE = "interrupted; rerun the same command to resume"


class _DropTensorFlowInfo(pylogging.Filter):
    """Drops INFO records logged from inside TensorFlow; ours and all warnings pass."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        return record.levelno >= pylogging.WARNING or "tensorflow" not in record.pathname


class _Doing:
    """What the command is doing, for the one line that reports an unexpected error."""

    what = "starting"


class _Sigint:
    """Records that Ctrl-C was pressed, then raises KeyboardInterrupt as Python does.

    Ctrl-C inside a TensorFlow C++ call can surface as another exception (pybind11
    replaces the pending KeyboardInterrupt by a RuntimeError naming both); with this
    record it is still reported as the interruption it is.
    """

    received = False

    @classmethod
    def install(cls) -> None:
        # Only over Python's default handler: an ignored SIGINT (nohup, a background job
        # of a script) stays ignored.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, cls._handle)

    @classmethod
    def _handle(cls, signum: int, frame: object) -> None:
        cls.received = True
        raise KeyboardInterrupt


def error_line(error: BaseException, doing: str) -> str:
    """The one line reporting `error`, raised while `doing`, to the user.

    Args:
      error: the exception.
      doing: what the program was doing, e.g. "training gs on multi_mnist".

    Returns:
      ``error: <message>`` for bad input (ValueError, OSError: the message says what to
      fix); ``error: unexpected <Type> in <doing>: <first line of the message> (rerun with
      --traceback for details)`` for anything else.
    """
    if isinstance(error, (ValueError, OSError)):
        return f"error: {error}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else "(no message)"
    if len(message) > 300:  # TensorFlow messages can carry a whole graph dump
        message = message[:297] + "..."
    if len(lines) > 1:
        message += " ..."
    return (f"error: unexpected {type(error).__name__} in {doing}: {message} "
            "(rerun with --traceback for details)")


def command(argv: list[str]) -> int:
    """Runs the command named by the parsed flags; returns the exit status.

    Every error ends here in one line on stderr, without a traceback (unless
    `--traceback`): bad input (ValueError, OSError) exits 2, anything unexpected 1, and
    Ctrl-C 130 with the interrupted run's message.

    Args:
      argv: what absl left of the command line after the flags (the program name only,
        unless the user added stray arguments).
    """
    flag_values = definitions.FLAGS
    doing = _Doing()
    _Sigint.install()
    try:
        return _run(argv, doing)
    except KeyboardInterrupt as e:
        if flag_values.traceback:
            raise
        return _interrupted(str(e))
    except Exception as e:
        if flag_values.traceback:
            raise
        if _Sigint.received:  # the form Ctrl-C took inside TensorFlow
            return _interrupted("")
        print(error_line(e, doing.what), file=sys.stderr, flush=True)
        bad_input = isinstance(e, (ValueError, OSError))
        return EXIT_BAD_INPUT if bad_input else EXIT_UNEXPECTED


def _interrupted(message: str) -> int:
    # A second Ctrl-C while the program winds down ends it at once, silently.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    print(message or INTERRUPTED_MESSAGE, file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _run(argv: list[str], doing: _Doing) -> int:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])} (flags are written "
                         "--name=value; see --help)")
    flag_values = definitions.FLAGS
    mode = modes.resolved_mode(flag_values)
    for notice in modes.old_spelling_notices(flag_values):
        print(notice, file=sys.stderr, flush=True)

    from mtl_tf import tf_startup

    doing.what = "starting TensorFlow"
    # TF_CPP_MIN_LOG_LEVEL is read once, when TensorFlow loads: set it first.
    tf = tf_startup.import_tensorflow(tf_startup.tf_log_level(flag_values.tf_log_level))
    # TensorFlow's own INFO lines (checkpoint sharding timings) drown the progress bar;
    # some go through absl's handler, so filter them there too.
    tf.get_logger().setLevel("WARNING")
    logging.get_absl_handler().addFilter(_DropTensorFlowInfo())

    if mode == "export":
        doing.what = f"exporting {flag_values.run_dir}"
        _export(flag_values.run_dir, flag_values.export_dir)
        return 0
    config = definitions.config_from_flags()
    if mode == "experiment":
        name = flag_values.experiment
        doing.what = f"running experiment {name}"
        _experiment(config, name, flag_values.report_dir or f"runs/{name}-seed{config.seed}",
                    tuple(flag_values.methods or ()))
        return 0
    if mode == "eval":
        doing.what = f"evaluating {flag_values.run_dir or flag_values.saved_model}"
        _eval_only(config, flag_values.run_dir, flag_values.saved_model,
                   flag_values["output_dir"].present)
        return 0
    return _train(config, flag_values.export_dir, doing)


def _train(config, export_dir: str, doing: _Doing) -> int:
    from mtl_tf.orchestration.runs import format_summary, run
    from mtl_tf.training.distribute import is_chief_process

    doing.what = f"training {config.method} on {config.dataset} ({config.output_dir})"
    metrics = run(config, extra_files={"flags.txt": definitions.flagfile_text()})
    print(format_summary(metrics))
    # In a multi-worker cluster only the chief writes (and so exports) the run.
    if is_chief_process(config.strategy):
        print(f"Wrote {os.path.join(config.output_dir, 'metrics.json')}")
        if export_dir and config.dataset != "synthetic":
            from mtl_tf.data.sources import no_embedded_notice

            doing.what = f"exporting {config.output_dir}"
            # The warm-up images reload the data just trained on: its notice was given.
            with no_embedded_notice():
                _export(config.output_dir, export_dir, skip_exported=True)
    return 0


def _experiment(config, name: str, report_dir: str, methods: tuple[str, ...] = ()) -> None:
    from mtl_tf.orchestration.experiments import run_experiment

    # It trains (or resumes) every method, then writes the whole report: tables, curves,
    # fronts and the adversarial example images (MTVIB Figs. 2-3).
    result = run_experiment(name, base_config=config, report_dir=report_dir,
                            methods=methods or None)
    files = ", ".join(sorted(os.path.basename(p) for p in result["report"].values()))
    print(f"Experiment {name}: report in {report_dir} ({files})")
    # The report's README: per-method budget and wall time, the table, the hypervolumes.
    with open(os.path.join(report_dir, "README.md"), encoding="utf-8") as f:
        print(f.read())
    if "paper_comparison.md" in result["report"]:
        with open(result["report"]["paper_comparison.md"], encoding="utf-8") as f:
            print(f.read())


def _eval_only(config, run_dir: str | None, saved_model: str | None, write: bool) -> None:
    from mtl_tf.io_utils import atomic_write_json
    from mtl_tf.orchestration.eval_only import evaluate_run, evaluate_saved_model
    from mtl_tf.orchestration.runs import format_summary

    if run_dir:
        metrics = evaluate_run(run_dir, config)
        print(format_summary(metrics))
        # Re-scoring replaces the run's attack results (config.json keeps how it trained).
        attack = (metrics.get("evaluated_with") or {}).get("attack", config.attack)
        extra = ((metrics.get("robustness_protocol") or {}).get("protocol") or {}).get("name")
        if extra:
            attack += f" (standard protocol, and {extra} beside it)"
        etas = ", ".join(f"{e:g}" for e in config.etas) or "none"
        print(f"Updated {os.path.join(run_dir, 'metrics.json')}: its robustness results are "
              f"now {attack} at eta {etas}; the previous ones were replaced")
        return
    result = evaluate_saved_model(saved_model, config)
    print(format_summary({"method": f"SavedModel {saved_model}", "dataset": result["dataset"],
                          "models": [{"name": "served", **result}]}))
    if write:
        path = os.path.join(config.output_dir, "saved_model_eval.json")
        atomic_write_json(path, result)
        print(f"Wrote {path}")


def _export(run_dir: str, export_dir: str, skip_exported: bool = False) -> None:
    from mtl_tf.export import export_run

    skipped: list[str] = []
    for version_dir in export_run(run_dir, export_dir, skip_exported=skip_exported,
                                  skipped=skipped):
        # Every export is a new version of the method's model name: say which run it is.
        print(f"Exported {version_dir} (from {run_dir})")
    for version_dir in skipped:
        # A rerun of a finished training command: its model is already served.
        print(f"Not exported again: {version_dir} already holds this model of {run_dir} "
              f"(--mode=export --run_dir={run_dir} adds a new version anyway)")
    print(f"TensorFlow Serving config: {os.path.join(export_dir, 'models.config')} "
          "(see export/README.md)")


class _HelpFlag(app.HelpFlag):
    """--help, -?: this program's flags by topic (absl's own flags are in --helpfull)."""

    def __init__(self) -> None:
        super().__init__()
        self.allow_override = True  # replaces absl's --help of the same name

    def parse(self, argument: str) -> None:
        absl_flags.BooleanFlag.parse(self, argument)
        if self.value:
            try:
                print(usage_text(), flush=True)
            except BrokenPipeError:
                # `mtl-tf --help | head`: the reader left; the rest is not wanted, and
                # the interpreter's final flush must not fail again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)


class _HelpshortFlag(_HelpFlag):
    """--helpshort: an alias of --help, as in absl."""

    NAME = "helpshort"
    SHORT_NAME = None


def usage_text() -> str:
    """What --help prints: the usage, then the project's flags grouped by topic."""
    return (f"{__doc__.strip()}\n\nflags:\n\n{definitions.help_text()}\n\n"
            "Also: --flagfile=FILE reads flags from a file (a run's flags.txt replays it); "
            "--helpfull lists absl's flags too.")


def _multi_flag_prefixes() -> set[str]:
    # absl starts a multi-flag validator's message with every flag it reads and its value
    # ("flags mode=None, eval_only=True, export_only=False, ...: "); the message itself
    # names the flags that matter, so the dump only buries it.
    flag_values = definitions.FLAGS
    return {f"{validator.print_flags_with_values(flag_values)}: "
            for flag in definitions.project_flags() for validator in flag.validators
            if hasattr(validator, "flag_names")}


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an error reported in one line (exit 2) instead of two."""
    try:
        return definitions.FLAGS(argv)
    except absl_flags.Error as e:
        prefixes = _multi_flag_prefixes()
        lines = []
        for line in str(e).splitlines():
            line = line.strip().removeprefix("ERROR:: ")  # an unreadable flagfile's prefix
            for prefix in prefixes:
                if line.startswith(prefix):
                    line = line.removeprefix(prefix)
                    break
            if line:
                lines.append(line)
        print(f"error: {' '.join(lines)}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)


def main() -> None:
    """The `mtl-tf` console script (also `python -m mtl_tf` and `python main.py`): parses
    `sys.argv`, runs the command and exits with its status."""
    app.define_help_flags()  # absl's help flags (idempotent), then ours over --help
    absl_flags.DEFINE_flag(_HelpFlag())
    absl_flags.DEFINE_flag(_HelpshortFlag())
    try:
        app.run(command, flags_parser=_parse_flags)
    except KeyboardInterrupt:
        flag_values = definitions.FLAGS
        if flag_values.is_parsed() and flag_values.traceback:
            raise  # command() re-raised it for --traceback
        # Ctrl-C while the flags were being parsed, before command() could report it.
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
