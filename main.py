"""mtl_tf command line: train, evaluate and report a multi-task method.

    python main.py                                   # quick run on the embedded sample
    python main.py --method=gs --dataset=multi_mnist --data_dir=../shared/data \
        --epochs=3 --train_size=20000 --test_size=5000 --output_dir=runs/x
    python main.py --flagfile=flags/<experiment>.flags

Flags are defined in flags/definitions.py; `--helpfull` lists them all.
"""

from __future__ import annotations

import logging as pylogging
import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) is noise for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, logging  # noqa: E402

from flags import definitions  # noqa: E402  (defines the flags)


class _DropTensorFlowInfo(pylogging.Filter):
    """Drops INFO records logged from inside TensorFlow; ours and all warnings pass."""

    def filter(self, record: pylogging.LogRecord) -> bool:
        return record.levelno >= pylogging.WARNING or "tensorflow" not in record.pathname


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import tensorflow as tf

    from mtl_tf.training import run as run_lib
    from mtl_tf.training.distribute import is_chief_process

    # TensorFlow's own INFO lines (checkpoint sharding timings) drown the progress bar;
    # some go through absl's handler, so filter them there too.
    tf.get_logger().setLevel("WARNING")
    logging.get_absl_handler().addFilter(_DropTensorFlowInfo())

    flag_values = definitions.FLAGS
    try:
        if flag_values.export_only:
            _export(flag_values.run_dir, flag_values.export_dir)
            return 0
        config = definitions.config_from_flags()
        if flag_values.experiment:
            _experiment(config, flag_values.experiment,
                        flag_values.report_dir
                        or f"runs/{flag_values.experiment}-seed{config.seed}",
                        tuple(flag_values.methods or ()))
            return 0
        if flag_values.eval_only:
            _eval_only(config, flag_values.run_dir, flag_values.saved_model,
                       flag_values["output_dir"].present)
            return 0
        metrics = run_lib.run(config, extra_files={"flags.txt": definitions.flagfile_text()})
        print(run_lib.format_summary(metrics))
        # In a multi-worker cluster only the chief writes (and so exports) the run.
        if is_chief_process(config.strategy):
            print(f"Wrote {os.path.join(config.output_dir, 'metrics.json')}")
            if flag_values.export_dir and config.dataset != "synthetic":
                _export(config.output_dir, flag_values.export_dir)
    except (ValueError, OSError) as e:
        # Bad input (values, missing or unreadable files): one clear line, non-zero exit,
        # no traceback.
        logging.error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 2
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


if __name__ == "__main__":
    app.run(main)
