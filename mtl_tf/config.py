"""The run configuration: every knob of a training run, independent of the CLI.

`main.py` builds a `RunConfig` from absl flags; library users build one directly. Keeping
the library free of absl flags means the same code trains from a notebook, a test or the
command line.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class RunConfig:
    """Configuration of one training run.

    Defaults are the papers' where they are cheap (Adam, lr 1e-4, batch 200, beta 1e-3,
    latent 256: MTVIB §VI-B) and a short budget where the papers' would take days on a
    CPU (epochs, data sizes); the flagfiles in `flags/` hold the papers' full budgets.
    """

    method: str = "gs"
    dataset: str = "multi_mnist"
    data_dir: str | None = None
    data_source: str = "auto"
    train_size: int = 10000
    test_size: int = 2000
    backbone: str = "small_alexnet"
    # None: the method's own encoder (e.g. "vib" for mtvib); set it to combine freely.
    encoder: str | None = None
    # None: equal weights 1/m (fixed weighting only).
    task_weights: tuple[float, ...] | None = None
    epochs: int = 5
    batch_size: int = 200
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    # Keras' default 0.99 leaves a briefly trained model at chance in inference mode:
    # the moving statistics lag the weights by ~100 steps. 0.9 tracks them closely.
    bn_momentum: float = 0.9
    beta: float = 1e-3
    latent_dim: int = 256
    seed: int = 0
    output_dir: str = "runs/default"
    keep_checkpoints: int = 3
    deterministic: bool = True
    verbose: int = 1

    def resolved_encoder(self, default: str) -> str:
        """The encoder to use: the explicit override, else the method's default."""
        return self.encoder or default
