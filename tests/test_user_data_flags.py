"""--dataset=csv:PATH / tfds:NAME and their --tasks entries as the flags check them: before
TensorFlow loads, one line each (issue #18 item 4); the task-entry parser and the run
directory's name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mtl_tf.user_data import dataset_slug, parse_task_entries, split_dataset_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")


def test_task_entries_kinds_and_losses():
    assert parse_task_entries(["species", "age:regression", "box:regression:l1",
                               "legs:classification"]) == [
        ("species", "classification", None), ("age", "regression", "mse"),
        ("box", "regression", "l1"), ("legs", "classification", None)]
    for bad, why in (("a:ordinal", "the kind must be classification or regression"),
                     ("a:classification:l1", "a loss applies to regression tasks only"),
                     ("a:regression:huber", "mse or l1, not 'huber'"),
                     (":regression", "expected NAME"), ("a:b:c:d", "expected NAME")):
        with pytest.raises(ValueError, match=why):
            parse_task_entries([bad])
    with pytest.raises(ValueError, match="named twice"):
        parse_task_entries(["a", "a:regression"])


def test_dataset_names_and_run_directory_slugs():
    assert split_dataset_name("csv:data/pets/labels.csv") == ("csv", "data/pets/labels.csv")
    assert split_dataset_name("tfds:celeb_a") == ("tfds", "celeb_a")
    assert split_dataset_name("mtfl") == (None, "mtfl")
    assert dataset_slug("csv:/x/pets/labels.csv") == "csv-pets-labels"
    assert dataset_slug("csv:labels.csv") == "csv-labels"
    assert dataset_slug("tfds:celeb_a:2.1.0") == "tfds-celeb_a_2.1.0"
    assert dataset_slug("multi_mnist") == "multi_mnist"


@pytest.mark.parametrize("args, line", [
    (["--dataset=csv:/nowhere/labels.csv", "--tasks=a"],
     "error: flag --dataset=csv:/nowhere/labels.csv: no such file /nowhere/labels.csv; give "
     "the path of the CSV file"),
    (["--dataset=csv:{csv}"],
     "error: --dataset=csv:{csv} needs --tasks naming its task columns, e.g. "
     "--tasks=species,age:regression"),
    (["--dataset=csv:{csv}", "--tasks=a,b:ordinal"],
     "error: --tasks entry 'b:ordinal': the kind must be classification or regression, "
     "not 'ordinal'"),
    (["--dataset=tfds:"], "error: flag --dataset=tfds:: needs a name after 'tfds:'"),
    (["--dataset=parquet:x"], "error: flag --dataset=parquet:x: unknown data set; allowed: "
     "multi_mnist, multi_fashion, multi_fashion_mnist, mtfl, synthetic, csv:PATH or tfds:NAME"),
])
def test_bad_user_data_flags_are_one_line_before_tensorflow(tmp_path, args, line):
    csv = tmp_path / "labels.csv"
    csv.write_text("image,a,b\n")
    args = [a.format(csv=csv) for a in args]
    result = subprocess.run([sys.executable, MAIN, *args, f"--output_dir={tmp_path / 'r'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == line.format(csv=csv)
    assert not (tmp_path / "r").exists()


def test_csv_run_directory_is_named_after_the_file():
    from flags import definitions

    assert definitions.default_output_dir("gs", "csv:/d/pets/labels.csv", 0) == \
        "runs/gs-csv-pets-labels-seed0"
