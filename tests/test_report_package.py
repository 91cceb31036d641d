"""The reports package (mtl_tf.evaluation.reports): its README links every file, method
facts come from mtl_tf.methods, and its modules keep to each other's public API."""

from __future__ import annotations

import ast
import copy
import os
import re

import keras
import pytest

from mtl_tf import methods as methods_lib
from mtl_tf.evaluation import reports
from tests import test_reports as shared
from tests.test_reports import _metrics, _model, _no_temp_files

# The fake runs of tests/test_reports.py (STL, GS with a grid, UWL without robustness,
# MTVIB, Pareto MTL with three preferences), as a fixture of this module too.
fake_metrics = shared.fake_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Files and folders of a report directory that its README does not link.
_NOT_LINKED = {"README.md", "runs", "tensorboard"}


def _links(readme: str) -> set[str]:
    # Inline links and images: [text](target) / ![text](target).
    return set(re.findall(r"\]\(([^)\s]+)\)", readme))


def _assert_readme_links_everything(report_dir: str) -> set[str]:
    with open(os.path.join(report_dir, "README.md"), encoding="utf-8") as f:
        links = _links(f.read())
    present = set(os.listdir(report_dir)) - _NOT_LINKED
    assert present <= links, f"not linked from README.md: {sorted(present - links)}"
    # And nothing the README links is missing.
    assert links <= present, f"linked but absent: {sorted(links - present)}"
    return present


def _tiny_model(task_names):
    from mtl_tf.models import build_network
    from mtl_tf.training.trainer import MultiTaskTrainer
    from mtl_tf.weighting.fixed import FixedWeighting

    keras.utils.set_random_seed(0)
    enc, heads = build_network(backbone="lenet", encoder="deterministic",
                               input_shape=(36, 36, 1), num_classes=[10, 10],
                               task_names=task_names)
    return MultiTaskTrainer(enc, heads, FixedWeighting(2))


# ----------------------------------------------------------------------------- README links
def test_readme_links_every_file_of_the_report(fake_metrics, tiny_data, tmp_path):
    report_dir = str(tmp_path / "report")
    # The per-method runs live inside the report directory; the README does not list them.
    os.makedirs(os.path.join(report_dir, "runs", "gs"))
    paths = reports.write_report(
        fake_metrics, report_dir,
        example_model=_tiny_model(tiny_data.task_names),
        example_images=tiny_data.test_images[:2], example_labels=tiny_data.label_matrix("test")[:2],
        example_etas=(0.0, 0.1), example_task_names=list(tiny_data.task_names),
        extra_files={"paper_comparison.md": "ours (paper)\n", "notes.txt": b"raw bytes"},
    )
    present = _assert_readme_links_everything(report_dir)
    assert present == {"table.md", "table.csv", "robustness.png", "joint_accuracy.png",
                       "front.png", "hypervolume.json", "examples.png",
                       "paper_comparison.md", "notes.txt"}
    assert set(paths) == present | {"README.md", "tensorboard"}
    with open(paths["paper_comparison.md"], encoding="utf-8") as f:
        assert f.read() == "ours (paper)\n"
    with open(paths["notes.txt"], "rb") as f:
        assert f.read() == b"raw bytes"
    with open(paths["README.md"], encoding="utf-8") as f:
        readme = f.read()
    assert "![examples.png](examples.png)" in readme and "tensorboard/" in readme
    _no_temp_files(report_dir)


def test_readme_links_companions_written_by_other_code(fake_metrics, tmp_path):
    # The CLI drew examples.png and the runner wrote paper_comparison.md into the report
    # directory before (or in an earlier run); the README links them too.
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    (report_dir / "examples.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (report_dir / "paper_comparison.md").write_text("published\n", encoding="utf-8")
    paths = reports.write_report(fake_metrics, str(report_dir))
    assert "examples.png" not in paths and "paper_comparison.md" not in paths  # not written
    _assert_readme_links_everything(str(report_dir))


def test_readme_of_a_report_without_robustness_links_everything(fake_metrics, tmp_path):
    for metrics in fake_metrics.values():
        metrics.pop("robustness", None)
        for model in metrics["models"]:
            model.pop("robustness", None)
    reports.write_report(fake_metrics, str(tmp_path))
    assert _assert_readme_links_everything(str(tmp_path)) == {
        "table.md", "table.csv", "front.png", "hypervolume.json"}


@pytest.mark.parametrize("name", ["", "..", "sub/file.md", "table.md", "README.md", "runs",
                                  "tensorboard"])
def test_extra_files_must_be_plain_new_names(fake_metrics, tmp_path, name):
    with pytest.raises(ValueError, match="extra_files"):
        reports.write_report(fake_metrics, str(tmp_path / "r"), extra_files={name: "x"})
    assert not os.path.exists(tmp_path / "r")  # refused before anything is written


def test_example_model_needs_images_before_anything_is_written(fake_metrics, tmp_path):
    with pytest.raises(ValueError, match="example_images"):
        reports.write_report(fake_metrics, str(tmp_path / "r"), example_model=object())
    assert not os.path.exists(tmp_path / "r")


# ----------------------------------------------------------------------------- method facts
def test_method_facts_come_from_the_method_specs(fake_metrics):
    specs = methods_lib.available_methods()
    assert reports.method_order() == tuple(specs)
    for name, spec in specs.items():
        assert reports.display_name(name) == spec.display_name
        assert reports.is_single_task(name) == spec.single_task
    assert reports.is_single_task("stl") and not reports.is_single_task("gs")
    # The former constants, derived from the specs.
    assert reports.METHOD_ORDER == reports.method_order()
    assert reports.DISPLAY_NAMES["pareto_mtl"] == "Pareto MTL"


def test_free_form_labels_are_shown_as_is_after_the_known_methods():
    gs = _model("gs", 0.9)
    mine = _model("mine", 0.8)
    other = _model("a|b", 0.7)
    metrics = {
        "my run": _metrics("my run", [mine], mine, mine["robustness"]),
        "gs": _metrics("gs", [gs], gs, gs["robustness"]),
        "a|b": _metrics("a|b", [other], other, other["robustness"]),
    }
    assert reports.ordered_methods(metrics) == ["gs", "my run", "a|b"]
    header, _ = reports.robustness_table(copy.deepcopy(metrics))
    assert header == ["task", "eta", "GS", "my run", "a/b"]
    assert not reports.is_single_task("my run")
    assert reports.front_hypervolumes(metrics)["methods"].keys() == {"gs", "my run", "a|b"}


# ----------------------------------------------------------------------------- structure
_OWN_MODULES = [
    os.path.join(REPO, "mtl_tf", "evaluation", "reports", name)
    for name in sorted(os.listdir(os.path.join(REPO, "mtl_tf", "evaluation", "reports")))
    if name.endswith(".py")
] + [os.path.join(REPO, "mtl_tf", "evaluation", name) for name in ("seeds.py",
                                                                    "paper_tables.py")]


@pytest.mark.parametrize("path", _OWN_MODULES, ids=os.path.basename)
def test_modules_use_only_public_names_of_other_modules(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    modules = set()  # names bound to imported project modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mtl_tf"):
            for alias in node.names:
                assert not alias.name.startswith("_"), f"imports private {alias.name}"
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update((a.asname or a.name).split(".")[0] for a in node.names)
    private = sorted(
        f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id in modules and node.attr.startswith("_")
        and not node.attr.startswith("__")
    )
    assert not private, f"{os.path.basename(path)} uses private names {private}"


def test_public_api_is_reexported():
    from mtl_tf.evaluation.reports import (  # noqa: F401
        front_hypervolumes,
        front_points,
        load_run_metrics,
        plot_adversarial_examples,
        robustness_table,
        write_report,
    )

    for name in reports.__all__:
        assert getattr(reports, name) is not None, name
