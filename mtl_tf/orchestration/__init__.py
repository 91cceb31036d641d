"""Orchestration: whole runs, grid searches, experiments and re-evaluation.

* `runs`: `run` trains and evaluates every model of a method into one run directory.
* `model`: one model of a run, fitted then scored (clean and under attack).
* `grid_search`: the GS weight grid as keras-tuner trials, picked on validation data.
* `experiment_catalog`: the named comparisons (the papers' tables) as data, TF-free.
* `experiment_cost`: their wall-time estimates from measured speeds.
* `experiments`: running one, then writing its report.
* `eval_only`: re-scoring a finished run or an exported SavedModel.

Nothing is imported here: `experiments` (and through it `experiment_catalog`) is read
by the command line's flag check before TensorFlow loads.
"""
