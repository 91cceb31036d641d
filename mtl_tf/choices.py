"""The names the command line accepts, importable without TensorFlow.

The command line (`mtl-tf`, `main.py`) defines and checks its flags before anything else,
and a typo must be answered in a fraction of a second: so the allowed values of the enum
flags live here, in a module that imports nothing (not even the rest of mtl_tf), instead of
next to the TensorFlow code that implements them. The modules that implement them import
their lists from here where they can (`mtl_tf.data.datasets.DATASETS`,
`mtl_tf.training.distribute.STRATEGIES`); `tests/test_cli.py` checks that every list
equals the registry it mirrors, so they cannot drift apart.
"""

from __future__ import annotations

__all__ = [
    "APPLICATION_BACKBONES",
    "ATTACKS",
    "ATTACK_CES",
    "ATTACK_LOSSES",
    "BACKBONES",
    "BACKBONE_WEIGHTS",
    "DATASETS",
    "DATASET_TASKS",
    "DATASET_REGRESSION_TASKS",
    "NUM_TASKS",
    "DATA_SOURCES",
    "ETA_UNITS",
    "ENCODERS",
    "GRAD_NORMALIZATIONS",
    "PARETO_LOSS_SCALES",
    "PARETO_GRAD_NORMALIZATIONS",
    "REGRESSION_LOSS_UNITS",
    "GRAD_WRT",
    "GRADNORM_UPDATES",
    "LR_SCHEDULES",
    "LR_SCHEDULES_WITH_HORIZON",
    "METHODS",
    "MTFL_FRAMINGS",
    "OPTIMIZERS",
    "STRATEGIES",
    "SYNTHETIC",
    "VIB_POSTERIORS",
    "VIB_PREDICTIONS",
    "WEIGHT_INITS",
]

# `mtl_tf.methods.available_methods()`, in `--help` order.
METHODS: tuple[str, ...] = (
    "stl", "stvib", "gs", "uwl", "mtvib", "gradnorm", "mgda", "pareto_mtl",
)
# Image data sets built by `mtl_tf.data.datasets.load_dataset`.
DATASETS: tuple[str, ...] = ("multi_mnist", "multi_fashion", "multi_fashion_mnist", "mtfl")
# `--mtfl_framing` (mtl_tf.data.mtfl_framing): "none" resizes whole images (the papers');
# "test" crops training images to frame faces like MTFL's test crops.
MTFL_FRAMINGS: tuple[str, ...] = ("none", "test")
# Pareto MTL's two-objective example (mtl_tf/synthetic.py), not an image data set.
SYNTHETIC = "synthetic"
# Tasks of each data set (MultiMNIST family: top-left and bottom-right item; MTFL: pose,
# gender, smile, glasses), so that `--task_weights` is counted before any data loads.
NUM_TASKS: dict[str, int] = {"multi_mnist": 2, "multi_fashion": 2, "multi_fashion_mnist": 2,
                             "mtfl": 4, SYNTHETIC: 2}
# Tasks each data set can serve, for `--tasks` (checked before TensorFlow loads); the
# first NUM_TASKS[d] of MTFL's are not its default: its default is the four attributes.
DATASET_TASKS: dict[str, tuple[str, ...]] = {
    "multi_mnist": ("top_left", "bottom_right"),
    "multi_fashion": ("top_left", "bottom_right"),
    "multi_fashion_mnist": ("top_left", "bottom_right"),
    "mtfl": ("landmarks", "pose", "gender", "smile", "glasses"),
}
# The regression tasks among them (the rest are classification).
DATASET_REGRESSION_TASKS: dict[str, tuple[str, ...]] = {"mtfl": ("landmarks",)}
# Where source images come from (`mtl_tf.data.sources.DATA_SOURCES`).
DATA_SOURCES: tuple[str, ...] = ("auto", "dir", "tfds", "embedded")
# `mtl_tf.models.BACKBONES` / `mtl_tf.models.ENCODERS`.
BACKBONES: tuple[str, ...] = ("small_alexnet", "lenet", "resnet50", "mobilenet_v2",
                              "mobilenet_v2_035", "efficientnet_b0")
# The keras.applications backbones among them (`mtl_tf.models.applications.APPLICATIONS`).
APPLICATION_BACKBONES: tuple[str, ...] = BACKBONES[2:]
# `--backbone_weights` (`mtl_tf.models.applications.WEIGHTS`).
BACKBONE_WEIGHTS: tuple[str, ...] = ("none", "imagenet")
ENCODERS: tuple[str, ...] = ("deterministic", "vib")
# `mtl_tf.training.optimizers.OPTIMIZERS` (`make_optimizer`).
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
# `mtl_tf.training.optimizers.LR_SCHEDULES`: the learning rate as a function of the step.
LR_SCHEDULES: tuple[str, ...] = ("constant", "multistep", "cosine")
# The schedules that decay over a horizon (`--lr_decay_epochs`, by default `--epochs`).
LR_SCHEDULES_WITH_HORIZON: tuple[str, ...] = ("cosine",)
# `mtl_tf.models.vib.POSTERIORS`: how the VIB encoder parameterises the posterior's scale.
VIB_POSTERIORS: tuple[str, ...] = ("log_var", "softplus")
# `mtl_tf.models.initialization.WEIGHT_INITS`: Keras' initialisers or PyTorch's defaults.
WEIGHT_INITS: tuple[str, ...] = ("keras", "pytorch")
# `mtl_tf.weighting.gradnorm.UPDATES`: how GradNorm moves its task weights.
GRADNORM_UPDATES: tuple[str, ...] = ("step", "optimizer")
# MGDA (`mtl_tf.weighting.mgda.GRAD_WRT` / `NORMALIZATIONS`).
GRAD_WRT: tuple[str, ...] = ("params", "representation")
GRAD_NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "loss", "loss+")
# `mtl_tf.weighting.pareto_mtl.LOSS_SCALES`: what Pareto MTL's preferences are defined on.
PARETO_LOSS_SCALES: tuple[str, ...] = ("none", "initial")
# `mtl_tf.weighting.pareto_mtl.GRAD_NORMALIZATIONS`: how its min-norm vectors are scaled.
PARETO_GRAD_NORMALIZATIONS: tuple[str, ...] = ("none", "l2")
# `mtl_tf.tasks.with_target_std`: the units regression losses are measured in.
REGRESSION_LOSS_UNITS: tuple[str, ...] = ("raw", "standardized")
# `mtl_tf.evaluation.attacks.ATTACKS`.
ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
# The evaluation protocol (`mtl_tf.evaluation.protocol.Protocol`), first the standard one.
VIB_PREDICTIONS: tuple[str, ...] = ("mean", "sample", "average")
ATTACK_LOSSES: tuple[str, ...] = ("sum", "weighted", "per_task")
ATTACK_CES: tuple[str, ...] = ("logits", "clipped_softmax")
ETA_UNITS: tuple[str, ...] = ("pixel", "standardized")
# `--strategy` (`mtl_tf.training.distribute.make_strategy`).
STRATEGIES: tuple[str, ...] = ("none", "mirrored", "multi_worker")
