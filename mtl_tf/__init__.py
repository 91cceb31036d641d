"""mtl_tf: multi-task learning in TensorFlow / Keras 3 -- MTVIB (a robust variational
information bottleneck) and Pareto MTL (the whole trade-off front), and their baselines.

Importing the package imports nothing else (no TensorFlow): the command line checks its
flags before TensorFlow loads.
"""

# The single source of the version: pyproject.toml reads it from here
# (`[tool.setuptools.dynamic]`), so a checkout and the wheel built from it agree.
__version__ = "0.1.0"
