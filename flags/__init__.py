"""The mtl_tf command line's flags and the flagfiles of named experiments.

`flags/definitions.py` is the entry point (`FLAGS`, `config_from_flags`,
`flagfile_text`); the flags themselves are defined by topic in `data.py`, `model.py`,
`training.py`, `weighting.py` (method-specific), `evaluation.py`, `output.py`, `modes.py`
and `diagnostics.py`, none of which imports TensorFlow. `flags/*.flags` are flagfiles
with the papers' budgets.
"""
