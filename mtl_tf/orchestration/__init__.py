"""Orchestration: whole runs, grid searches, experiments and re-evaluation.

* `runs`: `run` trains and evaluates every model of a method into one run directory.
* `model`: one model of a run, fitted then scored (clean and under attack).
* `grid_search`: the GS weight grid as keras-tuner trials, picked on validation data.
* `experiments`: named comparisons (the papers' tables) and their reports.
* `eval_only`: re-scoring a finished run or an exported SavedModel.

Nothing is imported here: `experiments` is read by the command line's flag check
before TensorFlow loads.
"""
