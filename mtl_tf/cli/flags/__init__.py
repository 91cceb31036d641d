"""The `mtl-tf` command line's flags, defined by topic and checked without TensorFlow.

`definitions` is the entry point (`FLAGS`, `config_from_flags`, `flagfile_text`,
`help_text`); the flags themselves are defined in `modes`, `data`, `model`, `training`,
`weighting` (method-specific), `evaluation`, `output` and `diagnostics`. They live inside
the package so that an installed wheel has them; the repository's `flags/` modules are
the same modules under their old names.
"""
