"""Model builders: shared encoders and task heads (MTVIB Tables I/II, Pareto MTL LeNet)."""

from mtl_tf.models.backbones import (
    BACKBONES,
    ENCODERS,
    build_encoder,
    build_head,
    build_network,
    encoder_feature_dim,
)
from mtl_tf.models.initialization import WEIGHT_INITS, initialize_weights
from mtl_tf.models.vib import (
    LOG_VAR_MAX,
    LOG_VAR_MIN,
    POSTERIORS,
    VariationalBottleneck,
    clip_log_var,
    gaussian_kl,
)

__all__ = [
    "BACKBONES",
    "ENCODERS",
    "LOG_VAR_MAX",
    "LOG_VAR_MIN",
    "POSTERIORS",
    "WEIGHT_INITS",
    "VariationalBottleneck",
    "build_encoder",
    "build_head",
    "build_network",
    "clip_log_var",
    "encoder_feature_dim",
    "gaussian_kl",
    "initialize_weights",
]
