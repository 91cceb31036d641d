r"""mtl_tf command line: train, evaluate and report a multi-task method.

    python main.py                                   # quick run on the embedded sample
    python main.py --method=gs --dataset=multi_mnist --data_dir=../shared/data \
        --epochs=3 --train_size=20000 --test_size=5000 --output_dir=runs/x
    python main.py --flagfile=flags/<experiment>.flags

`--help` lists this program's flags by topic (they are defined in flags/*.py);
`--helpfull` adds absl's. Errors end in one line: `error: ...` and exit status 2 for
bad flags or input, 1 for an unexpected error (`--traceback` shows it in full), 130 when
interrupted (rerunning the same command resumes).
"""

from __future__ import annotations

import logging as pylogging
import os
import signal
import sys

from absl import app, logging
from absl import flags as absl_flags

# Defines the flags; imports no TensorFlow, so a bad flag is answered at once.
from flags import definitions

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
    """What main() is doing, for the one line that reports an unexpected error."""

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


def main(argv: list[str]) -> int:
    """Runs the command named by the flags; returns the exit status.

    Every error ends here in one line on stderr, without a traceback (unless
    `--traceback`): bad input (ValueError, OSError) exits 2, anything unexpected 1, and
    Ctrl-C 130 with the interrupted run's message.
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
    from mtl_tf import tf_startup

    flag_values = definitions.FLAGS
    doing.what = "starting TensorFlow"
    # TF_CPP_MIN_LOG_LEVEL is read once, when TensorFlow loads: set it first.
    tf = tf_startup.import_tensorflow(tf_startup.tf_log_level(flag_values.tf_log_level))

    from mtl_tf.training import run as run_lib
    from mtl_tf.training.distribute import is_chief_process

    # TensorFlow's own INFO lines (checkpoint sharding timings) drown the progress bar;
    # some go through absl's handler, so filter them there too.
    tf.get_logger().setLevel("WARNING")
    logging.get_absl_handler().addFilter(_DropTensorFlowInfo())

    if flag_values.export_only:
        doing.what = f"exporting {flag_values.run_dir}"
        _export(flag_values.run_dir, flag_values.export_dir)
        return 0
    config = definitions.config_from_flags()
    if flag_values.experiment:
        doing.what = f"running experiment {flag_values.experiment}"
        _experiment(config, flag_values.experiment,
                    flag_values.report_dir
                    or f"runs/{flag_values.experiment}-seed{config.seed}",
                    tuple(flag_values.methods or ()))
        return 0
    if flag_values.eval_only:
        doing.what = f"evaluating {flag_values.run_dir or flag_values.saved_model}"
        _eval_only(config, flag_values.run_dir, flag_values.saved_model,
                   flag_values["output_dir"].present)
        return 0
    doing.what = f"training {config.method} on {config.dataset} ({config.output_dir})"
    metrics = run_lib.run(config, extra_files={"flags.txt": definitions.flagfile_text()})
    print(run_lib.format_summary(metrics))
    # In a multi-worker cluster only the chief writes (and so exports) the run.
    if is_chief_process(config.strategy):
        print(f"Wrote {os.path.join(config.output_dir, 'metrics.json')}")
        if flag_values.export_dir and config.dataset != "synthetic":
            doing.what = f"exporting {config.output_dir}"
            _export(config.output_dir, flag_values.export_dir)
    return 0


def _experiment(config, name: str, report_dir: str, methods: tuple[str, ...] = ()) -> None:
    from mtl_tf.data.datasets import load_run_dataset
    from mtl_tf.evaluation import reports
    from mtl_tf.experiments import run_experiment
    from mtl_tf.export.runs import restore_run

    result = run_experiment(name, base_config=config, report_dir=report_dir,
                            methods=methods or None)
    # MTVIB Figs. 2-3: clean and adversarial test images, attacked through the paper's
    # model when the experiment trained it (else the first method's).
    ran = list(result["metrics"])
    method = "mtvib" if "mtvib" in ran else ran[0]
    run_config, _, _, restored = restore_run(os.path.join(report_dir, "runs", method))
    data = load_run_dataset(run_config)
    plan, trainer, _ = restored[0]
    images, labels = _first_test_images(data, plan.task_indices, 8)
    reports.plot_adversarial_examples(
        trainer, images, labels, [data.task_names[k] for k in plan.task_indices],
        run_config.etas or (0.0, 0.1, 0.2, 0.3), os.path.join(report_dir, "examples.png"),
        tensorboard_dir=os.path.join(report_dir, "tensorboard"))
    print(f"Experiment {name}: report in {report_dir} "
          f"({', '.join(sorted(os.path.basename(p) for p in result['report'].values()))}, "
          "examples.png)")
    # The report's README: per-method budget and wall time, the table, the hypervolumes.
    with open(os.path.join(report_dir, "README.md"), encoding="utf-8") as f:
        print(f.read())
    if "paper_comparison.md" in result["report"]:
        with open(result["report"]["paper_comparison.md"], encoding="utf-8") as f:
            print(f.read())


def _first_test_images(data, task_indices, count: int):
    from mtl_tf.data.pipeline import split_dataset

    batch = next(iter(split_dataset(data, "test", task_indices, count, shuffle=False, seed=0)))
    return batch


def _eval_only(config, run_dir: str | None, saved_model: str | None, write: bool) -> None:
    from mtl_tf.evaluation import eval_only
    from mtl_tf.io_utils import atomic_write_json
    from mtl_tf.training import run as run_lib

    if run_dir:
        metrics = eval_only.evaluate_run(run_dir, config)
        print(run_lib.format_summary(metrics))
        print(f"Updated {os.path.join(run_dir, 'metrics.json')}")
        return
    result = eval_only.evaluate_saved_model(saved_model, config)
    print(run_lib.format_summary({"method": f"SavedModel {saved_model}",
                                  "dataset": result["dataset"],
                                  "models": [{"name": "served", **result}]}))
    if write:
        path = os.path.join(config.output_dir, "saved_model_eval.json")
        atomic_write_json(path, result)
        print(f"Wrote {path}")


def _export(run_dir: str, export_dir: str) -> None:
    from mtl_tf.export import export_run

    for version_dir in export_run(run_dir, export_dir):
        print(f"Exported {version_dir}")
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
                # `main.py --help | head`: the reader left; the rest is not wanted, and
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


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an error reported in one line (exit 2) instead of two."""
    try:
        return definitions.FLAGS(argv)
    except absl_flags.Error as e:
        message = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        message = message.removeprefix("ERROR:: ")  # absl's prefix for an unreadable flagfile
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)


def _run_app() -> None:
    app.define_help_flags()  # absl's help flags (idempotent), then ours over --help
    absl_flags.DEFINE_flag(_HelpFlag())
    absl_flags.DEFINE_flag(_HelpshortFlag())
    try:
        app.run(main, flags_parser=_parse_flags)
    except KeyboardInterrupt:
        flag_values = definitions.FLAGS
        if flag_values.is_parsed() and flag_values.traceback:
            raise  # main() re-raised it for --traceback
        # Ctrl-C while the flags were being parsed, before main() could report it.
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    _run_app()
