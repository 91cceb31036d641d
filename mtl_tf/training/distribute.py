"""Distributed training with `tf.distribute`: strategies, chief-only I/O, replica sync.

`--strategy` picks one of

* ``none``: no strategy; training is exactly the single-device code path.
* ``mirrored``: `tf.distribute.MirroredStrategy` over this machine's GPUs, or over its
  logical CPU devices when it has no GPU (one replica per device).
* ``multi_worker``: `tf.distribute.MultiWorkerMirroredStrategy` across machines, each
  running the same command with its own ``TF_CONFIG`` (see docs/distributed.md).

Inside the train step, `ReplicaSync` is what makes every replica train on the global
batch: losses are scaled by the replica's share of the global batch (so that the
optimizer's all-reduce SUM yields the global-batch mean gradient), and everything a
weighting strategy reads (task losses, per-task gradients or their Gram matrix) is
all-reduced before `compute_weights`, so that MGDA / Pareto MTL / GradNorm compute the
same weights on every replica. Without a strategy every `ReplicaSync` method is the
identity, so single-device training is bit-for-bit what it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import tensorflow as tf

from mtl_tf.choices import STRATEGIES  # the flags' TF-free list of strategy names


def make_strategy(name: str) -> tf.distribute.Strategy | None:
    """The `tf.distribute.Strategy` named by `--strategy` (None for ``"none"``).

    Must be called before TensorFlow runs any op: `MultiWorkerMirroredStrategy`
    configures the collective ops of the TensorFlow runtime, which is only possible
    before it starts.

    Args:
      name: one of `STRATEGIES`.

    Returns:
      The strategy, or None for ``"none"``.

    Raises:
      ValueError: for an unknown name, or ``multi_worker`` with a missing or malformed
        ``TF_CONFIG``.
    """
    if name == "none":
        return None
    if name == "mirrored":
        # MirroredStrategy() alone picks the GPUs, or a single CPU when there are none;
        # listing the logical CPUs lets a CPU-only machine split into several replicas
        # (tf.config.set_logical_device_configuration), as the tests do.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown --strategy {name!r}; allowed: {', '.join(STRATEGIES)}")


def check_tf_config(text: str | None) -> dict[str, Any]:
    """Parses and checks the ``TF_CONFIG`` environment variable of a multi-worker run.

    Args:
      text: the variable's value (None when unset).

    Returns:
      The parsed configuration.

    Raises:
      ValueError: naming TF_CONFIG and what is wrong with it.
    """
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise ValueError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable, e.g. "
            f"{example} (see docs/distributed.md)"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}); expected e.g. {example}") from e
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG must have 'cluster' and 'task' objects; expected e.g. "
                         f"{example}, got {text!r}")
    task_type, index = task.get("type"), task.get("index")
    members = cluster.get(task_type)
    if not isinstance(members, list) or not isinstance(index, int) or not (
        0 <= index < len(members)
    ):
        raise ValueError(
            f"TF_CONFIG's task {task!r} does not name an entry of its cluster "
            f"{cluster!r}: 'type' must be a key of 'cluster' and 'index' a position in "
            "its list"
        )
    return config


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes the run's files (metrics, events, real checkpoints).

    True without a strategy and for a single-machine strategy; in a multi-worker cluster,
    the task of type "chief", or worker 0 when the cluster has no chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def is_chief_process(strategy_name: str) -> bool:
    """`is_chief` from the environment alone (TF_CONFIG), for code that has no strategy
    object at hand (the CLI deciding whether this process exports the run)."""
    if strategy_name != "multi_worker":
        return True
    config = check_tf_config(os.environ.get("TF_CONFIG"))
    task, cluster = config["task"], config["cluster"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and int(task.get("index", 0)) == 0 and "chief" not in cluster


def is_multi_worker(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether `strategy` spans several processes (each feeding its own replicas)."""
    # The test Keras itself uses (keras/src/backend/tensorflow/trainer.py).
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        strategy.extended._in_multi_worker_mode()  # noqa: SLF001
    )


def scope(strategy: tf.distribute.Strategy | None) -> contextlib.AbstractContextManager:
    """`strategy.scope()`, or a no-op without a strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


@contextlib.contextmanager
def worker_local_dir(strategy: tf.distribute.Strategy | None, path: str) -> Iterator[str]:
    """Where this worker writes files every worker must write (checkpoints).

    TensorFlow needs every worker of a multi-worker run to take part in saving a
    checkpoint; only the chief's copy is kept. The chief gets `path`; the others a fresh
    temporary directory, removed when the context exits.
    """
    if is_chief(strategy):
        yield path
        return
    task_id = strategy.cluster_resolver.task_id
    temp = tempfile.mkdtemp(prefix=f"mtl_tf-worker{task_id}-")
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def distribute_options() -> tf.data.Options:
    """tf.data options for datasets fed to a multi-worker strategy.

    The pipelines come from in-memory tensors, which cannot be sharded by file: shard by
    element (each worker keeps its part of every global batch), explicitly rather than
    through AUTO's fallback warning.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def check_same_on_all_replicas(strategy: tf.distribute.Strategy | None, value: int,
                               what: str) -> None:
    """Raises on every worker if `value` is not the same on all of them.

    Workers that disagree (e.g. on the epoch to resume from, when one cannot read the
    chief's checkpoints) would otherwise wait for each other's collectives forever. All
    replicas see the same sums, so they all take the same branch:
    N * sum(v^2) == sum(v)^2 exactly when all v are equal.
    """
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return
    v = tf.constant(float(value), tf.float64)

    @tf.function  # strategy.run outside a tf.function is slow and warns
    def sums() -> tf.Tensor:
        per_replica = strategy.run(lambda: tf.stack([v, v * v, tf.ones((), tf.float64)]))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    total, squares, count = sums().numpy()
    if count * squares != total * total:
        raise ValueError(
            f"the workers disagree on {what} (this worker: {value}, mean over replicas: "
            f"{total / count:g}); every worker must see the same run directory "
            "(shared storage, or the chief's files copied to every machine)"
        )


@contextlib.contextmanager
def replica_identical_state(strategy: tf.distribute.Strategy | None) -> Iterator[None]:
    """Creates non-trainable, non-aggregated variables as ONLY_FIRST_REPLICA.

    A weighting strategy updates its state (GradNorm's weights, the Pareto MTL phase)
    inside `compute_weights`, i.e. in replica context, where a mirrored variable without
    an aggregation cannot be assigned. `ReplicaSync` makes every replica compute the same
    new value, so taking the first replica's is exact (and works for integer state, which
    MEAN would not). Enter it (inside `strategy.scope()`) while building the weighting;
    without a strategy it does nothing.
    """
    if strategy is None:
        yield
        return

    def creator(next_creator, **kwargs):
        aggregation = kwargs.get("aggregation")
        if not kwargs.get("trainable", True) and aggregation in (
            None, tf.VariableAggregation.NONE
        ):
            kwargs["aggregation"] = tf.VariableAggregation.ONLY_FIRST_REPLICA
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        yield


class ReplicaSync:
    """Cross-replica arithmetic of one train step; the identity without a strategy.

    Build it inside `train_step` (replica context). With N replicas and a global batch
    of B examples (B_r on replica r):

    * `batch_mean(x)` is replica r's share of the global-batch mean, sum_i x_i / B,
      whose gradients summed over replicas (what the optimizer's all-reduce does) are the
      gradients of the global mean;
    * `sum(x)` all-reduces (SUM) those shares into global values, identical on every
      replica;
    * `once(x)` scales a term that should count once per step (a weighting's own
      regulariser) by 1/N;
    * `for_optimizer(grads)` scales gradients that are already global by 1/N, since the
      optimizer sums them over replicas again.
    """

    def __init__(self, local_batch_size: tf.Tensor) -> None:
        self.active = (
            tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()
        )
        self.context = tf.distribute.get_replica_context() if self.active else None
        self.num_replicas = self.context.num_replicas_in_sync if self.active else 1
        self.global_batch_size = None
        if self.active:
            # Summed rather than N * B_r: the last batch of an epoch may split unevenly
            # (or leave a replica empty).
            self.global_batch_size = self.context.all_reduce(
                tf.distribute.ReduceOp.SUM, tf.cast(local_batch_size, tf.float32)
            )

    def batch_mean(self, values: tf.Tensor) -> tf.Tensor:
        """Mean over the batch (single device) / this replica's share of it."""
        if not self.active:
            return tf.reduce_mean(values)
        return tf.reduce_sum(values) / self.global_batch_size

    def sum(self, values: Any) -> Any:
        """All-reduced SUM of a tensor or nested structure of tensors."""
        if not self.active:
            return values
        return self.context.all_reduce(tf.distribute.ReduceOp.SUM, values)

    def once(self, value: tf.Tensor) -> tf.Tensor:
        """A per-step term, scaled so that the replicas' sum counts it once."""
        return value if not self.active else value / self.num_replicas

    def for_optimizer(self, grads: list[tf.Tensor]) -> list[tf.Tensor]:
        """Already all-reduced gradients, scaled for the optimizer's own SUM."""
        if not self.active or self.num_replicas == 1:
            return grads
        return [g / self.num_replicas for g in grads]
