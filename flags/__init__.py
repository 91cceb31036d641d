"""The command line's flags under their old names, and the flagfiles of named experiments.

The flags are defined in the package, `mtl_tf/cli/flags/` (so an installed wheel has
them); `flags.definitions`, `flags.data`, ... are the same modules under the names a
checkout has always imported. `flags/*.flags` are flagfiles with the papers' budgets:
`python main.py --flagfile=flags/mtvib_multi_mnist.flags --data_dir=DIR`.
"""
