"""`MultiTaskTrainer`: a `keras.Model` whose `train_step` asks a weighting strategy how
to combine the task losses.

The network is a shared encoder (image -> {"z", ...}) and one head per task
(z -> logits). One forward pass gives every task loss; what happens next depends on the
strategy's `gradient_source` (see `mtl_tf.weighting.base`):

* `None` (fixed, uncertainty): one backward pass of sum_k w_k L_k + regularisers.
* `"params"` (MGDA, Pareto MTL): one backward pass per task over the parameters that
  task touches (shared encoder + its own head), the Gram matrix of those gradients, the
  weights from the strategy, and the update as the same linear combination of the
  per-task gradients -- exactly the gradient of sum_k w_k L_k without another pass.
* `"representation"` / `"last_shared_layer"` (MGDA-UB, GradNorm): cheap per-task
  gradients w.r.t. z or the last shared kernel, then one backward pass of the weighted
  sum, seeded with the weights through `output_gradients`.

Everything runs inside the compiled step; nothing is computed in Python per batch.
VIB encoders add beta * KL (MTVIB eq. 10, 23) to the objective.

Under a `tf.distribute` strategy (`mtl_tf.training.distribute`) each replica computes its
share of the global-batch losses, and the inputs of `compute_weights` are made global
first: the task losses are all-reduced; the per-task gradients ("params",
"last_shared_layer") are all-reduced *before* the Gram matrix, and for "representation"
the local Gram matrices (of disjoint blocks of the global per-example gradient) are
summed. Every replica thus solves the same min-norm problem and gets the same weights.
Without a strategy all of that is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from mtl_tf.tasks import CLASSIFICATION, TaskSpec
from mtl_tf.training import distribute
from mtl_tf.training.distribute import ReplicaSync
from mtl_tf.training.losses import per_example_loss
from mtl_tf.weighting.base import Weighting
from mtl_tf.weighting.min_norm import gram_matrix


def _squared_norm(grads: Sequence[tf.Tensor]) -> tf.Tensor:
    return tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads])


def _output_size(head: keras.Model) -> int:
    """A head's output width, for a default classification spec; 1 when the head was
    never called symbolically (the trainer's classification loss does not use it)."""
    try:
        return int(head.output.shape[-1])
    except (AttributeError, ValueError, TypeError):
        return 1


def _keras_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A step's logs, shaped for Keras' cross-replica reduction.

    Under MultiWorkerMirroredStrategy, Keras 3 reduces every log value with
    `strategy.reduce(MEAN, value, axis=0)`, which fails on the scalars metrics return: give
    them a leading axis of length 1 there, so that the reduction is the mean over replicas.
    Elsewhere (no strategy, MirroredStrategy) the logs are returned as they are.
    """
    if not distribute.is_multi_worker(tf.distribute.get_strategy()):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


class MultiTaskTrainer(keras.Model):
    """Shared encoder + per-task heads, trained with a pluggable `Weighting`.

    Args:
      encoder: functional model, image -> dict with "z" (and "mean", "log_var" for VIB).
      heads: task name -> functional model, z -> logits (classification) or predictions
        (regression). Order defines the task order.
      weighting: the task-weighting strategy.
      beta: weight of the VIB KL term (MTVIB eq. 23); ignored for deterministic encoders.
      task_specs: one `mtl_tf.tasks.TaskSpec` per head, in head order: each task's loss
        and metrics follow its spec. Default: every head a classification (the papers').
    """

    def __init__(
        self,
        encoder: keras.Model,
        heads: Mapping[str, keras.Model],
        weighting: Weighting,
        *,
        beta: float = 0.0,
        task_specs: Sequence[TaskSpec] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.task_names = tuple(heads)
        self.heads = dict(heads)
        if task_specs is None:
            task_specs = [TaskSpec(t, CLASSIFICATION, _output_size(h))
                          for t, h in self.heads.items()]
        self.task_specs = tuple(task_specs)
        if tuple(s.name for s in self.task_specs) != self.task_names:
            raise ValueError(
                f"task specs {[s.name for s in self.task_specs]} do not match the heads "
                f"{list(self.task_names)}"
            )
        # Joint accuracy counts the classification tasks only: a regression has no "right".
        self._classified = [k for k, s in enumerate(self.task_specs) if s.is_classification]
        # tf.train.Checkpoint follows attributes that are layers, but not a dict of them:
        # without these, a head's trainable weights were saved only through the optimizer
        # and its BatchNorm moving statistics not at all, so resumed, exported and
        # re-evaluated models lost them. One attribute per head puts every head variable
        # in the checkpoint's object graph.
        for index, head in enumerate(heads.values()):
            setattr(self, f"head_{index}", head)
        self.weighting = weighting
        weighting.bind_tasks(self.task_specs)
        self.beta = float(beta)
        self.is_vib = "mean" in encoder.output
        if weighting.num_tasks != len(self.task_names):
            raise ValueError(
                f"weighting built for {weighting.num_tasks} tasks, model has "
                f"{len(self.task_names)}"
            )
        self._build_trackers()

    def build(self, input_shape) -> None:
        # The encoder and heads are functional models, built at construction; building
        # the strategy is all that is left.
        if not self.weighting.built:
            self.weighting.build(None)
        super().build(input_shape)

    # ------------------------------------------------------------------ metrics
    def _build_trackers(self) -> None:
        mean, acc = keras.metrics.Mean, keras.metrics.SparseCategoricalAccuracy
        self.loss_tracker = mean(name="loss")
        self.joint_tracker = mean(name="joint_accuracy")
        self.kl_tracker = mean(name="kl")
        self.task_loss_trackers = [mean(name=f"{t}_loss") for t in self.task_names]
        # Accuracy for a classification head, mean absolute error for a regression head.
        self.task_acc_trackers = [
            acc(name=f"{s.name}_accuracy") if s.is_classification
            else keras.metrics.MeanAbsoluteError(name=f"{s.name}_mae")
            for s in self.task_specs
        ]
        self.task_weight_trackers = [mean(name=f"{t}_weight") for t in self.task_names]

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listed here so that Keras resets them at every epoch and evaluate().
        trackers = [self.loss_tracker]
        if self._classified:
            trackers.append(self.joint_tracker)
        trackers += self.task_loss_trackers + self.task_acc_trackers + self.task_weight_trackers
        if self.is_vib:
            trackers.append(self.kl_tracker)
        return trackers

    # ------------------------------------------------------------------ forward
    def call(self, images: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Returns {task: logits}. In inference a VIB encoder uses z = mean."""
        z = self.encoder(images, training=training)["z"]
        return {t: self.heads[t](z, training=training) for t in self.task_names}

    def _forward(self, images: tf.Tensor, training: bool):
        encoded = self.encoder(images, training=training)
        z = encoded["z"]
        logits = [self.heads[t](z, training=training) for t in self.task_names]
        return encoded, z, logits

    def _task_losses(
        self,
        labels: Mapping[str, tf.Tensor],
        logits: Sequence[tf.Tensor],
        sync: ReplicaSync | None = None,
    ) -> list[tf.Tensor]:
        """Mean loss per task, from its spec: sparse cross-entropy from logits
        (classification, MTVIB eq. 7), or the mean over outputs of the squared (``mse``)
        or absolute (``l1``) error (regression).

        A list of scalars, not a stacked tensor: per-task gradients must start from
        tensors recorded on the tape, and slicing a stack after the tape has closed
        would not be. With an active `sync`, each is this replica's share of the
        global-batch mean.
        """
        mean = tf.reduce_mean if sync is None else sync.batch_mean
        return [mean(per_example_loss(spec, labels[spec.name], logits[k]))
                for k, spec in enumerate(self.task_specs)]

    def _encoder_regularization(
        self, encoded: Mapping[str, tf.Tensor], sync: ReplicaSync
    ) -> tf.Tensor:
        if not self.is_vib:
            return tf.constant(0.0)
        from mtl_tf.models.vib import gaussian_kl

        kl = sync.batch_mean(gaussian_kl(encoded["mean"], encoded["log_var"]))
        self.kl_tracker.update_state(sync.sum(kl))
        return self.beta * kl

    def _update_metrics(self, labels, logits, task_losses, total, weights=None):
        self.loss_tracker.update_state(total)
        correct = []
        for k, t in enumerate(self.task_names):
            self.task_loss_trackers[k].update_state(task_losses[k])
            self.task_acc_trackers[k].update_state(labels[t], logits[k])
            if weights is not None:
                self.task_weight_trackers[k].update_state(weights[k])
            if k in self._classified:
                pred = tf.argmax(logits[k], axis=-1, output_type=tf.int32)
                correct.append(tf.equal(pred, tf.cast(labels[t], tf.int32)))
        if correct:
            self.joint_tracker.update_state(
                tf.cast(tf.reduce_all(tf.stack(correct), 0), tf.float32))

    # ------------------------------------------------------------------ training
    def train_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        source = self.weighting.gradient_source
        shared_vars = self.encoder.trainable_variables
        head_vars = [self.heads[t].trainable_variables for t in self.task_names]
        # Identity without a strategy; with one, `task_losses`, `reg` and `total` below
        # are this replica's shares and `global_losses` their all-reduced sum.
        sync = ReplicaSync(tf.shape(images)[0])

        with tf.GradientTape(persistent=source is not None) as tape:
            encoded, z, logits = self._forward(images, training=True)
            loss_list = self._task_losses(labels, logits, sync)
            task_losses = tf.stack(loss_list)
            global_losses = sync.sum(task_losses)
            reg = self._encoder_regularization(encoded, sync)
            if source is None:
                weights = self.weighting.compute_weights(global_losses)
                total = (
                    tf.reduce_sum(weights * task_losses)
                    + sync.once(self.weighting.regularization())
                    + reg
                )

        if source is None:
            variables = self.trainable_variables
            # This replica's share; the optimizer's all-reduce SUM makes it global.
            grads = tape.gradient(total, variables)
        elif source == "params":
            variables, grads, weights = self._params_gradients(
                tape, loss_list, global_losses, reg, shared_vars, head_vars, sync
            )
            total = tf.reduce_sum(weights * task_losses) + reg
        else:
            if source == "representation":
                # MGDA-UB: per-example gradients w.r.t. z, flattened over the batch as in
                # Sener & Koltun's reference (the bound of their Theorem 1 is on all of Z).
                targets = [z]
            elif source == "last_shared_layer":
                targets = [self.last_shared_kernel()]
            else:
                raise ValueError(f"unknown gradient_source {source!r}")
            per_task = [tape.gradient(loss, targets) for loss in loss_list]
            if source == "representation":
                # Each replica holds the rows of its own examples of the global
                # per-example gradient, so the global Gram matrix is the sum of the local
                # ones (no need to all-reduce the [batch, latent] gradients themselves).
                gram = sync.sum(gram_matrix(per_task))
            else:
                # The same kernel on every replica: all-reduce the gradients, then the Gram.
                gram = gram_matrix(sync.sum(per_task))
            weights = tf.stop_gradient(self.weighting.compute_weights(global_losses, gram))
            total = tf.reduce_sum(weights * task_losses) + reg
            variables = shared_vars + [v for hv in head_vars for v in hv]
            # This replica's share of the weighted gradient; the optimizer sums the shares.
            grads = tape.gradient(
                [task_losses, reg], variables, output_gradients=[weights, tf.ones_like(reg)]
            )
        if source is not None:
            del tape

        self.optimizer.apply(grads, variables)
        self._update_metrics(labels, logits, global_losses, sync.sum(total), weights)
        return _keras_logs({m.name: m.result() for m in self.metrics})

    def _params_gradients(
        self, tape, loss_list, task_losses, reg, shared_vars, head_vars, sync: ReplicaSync
    ):
        """Per-task gradients over shared + own head; update = their weighted sum.

        `task_losses` are the global ones (what `compute_weights` sees); `loss_list` this
        replica's shares, whose per-task gradients are all-reduced before the Gram matrix.
        """
        n_shared = len(shared_vars)
        per_task = [
            tape.gradient(loss, shared_vars + head_vars[k]) for k, loss in enumerate(loss_list)
        ]
        # Global per-task gradients, identical on every replica: one batched all-reduce
        # (m times the size of a plain step's) so that the min-norm solve below agrees.
        per_task = sync.sum(per_task)
        shared = [g[:n_shared] for g in per_task]
        gram = gram_matrix(shared)
        if self.weighting.gram_includes_heads:
            # Heads are disjoint: they add only to the diagonal.
            head_sq = tf.stack([_squared_norm(g[n_shared:]) for g in per_task])
            gram = gram + tf.linalg.diag(head_sq)
        weights = tf.stop_gradient(self.weighting.compute_weights(task_losses, gram))
        # Already global: scaled by 1/N because the optimizer sums them over replicas.
        combined_shared = sync.for_optimizer([
            tf.add_n([weights[k] * shared[k][v] for k in range(len(per_task))])
            for v in range(n_shared)
        ])
        if self.is_vib:
            # This replica's share of the KL gradient: left for the optimizer to sum.
            reg_grads = tape.gradient(reg, shared_vars)
            combined_shared = [
                g if r is None else g + r for g, r in zip(combined_shared, reg_grads, strict=True)
            ]
        variables = list(shared_vars)
        grads = list(combined_shared)
        for k, g in enumerate(per_task):
            variables += head_vars[k]
            grads += sync.for_optimizer([weights[k] * x for x in g[n_shared:]])
        return variables, grads, weights

    # The trainer's only use of private Keras API, isolated here:
    # `tests/test_trainer.py::test_private_keras_hook_is_still_what_keras_calls` fails when
    # a Keras release renames this hook, changes its arguments, stops calling it from
    # `fit`, or changes the (step, _, iterator) items its epoch iterator yields.
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras' pre-training build, made to work under MultiWorkerMirroredStrategy.

        Keras 3 (TF backend) peeks at the first distributed batch and reduces the whole
        (images, labels) structure with `strategy.reduce(MEAN)` to get one sample batch;
        MultiWorkerMirroredStrategy rejects that ("unsupported type PerReplica"). The
        build needs only shapes and dtypes, so hand it this worker's first replica's
        batch instead. (Keras resets the iterator afterwards: no batch is lost.)
        """
        strategy = self.distribute_strategy
        if iterator is not None and distribute.is_multi_worker(strategy):
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues)
                    else x,
                    next(it),
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def last_shared_kernel(self) -> tf.Variable:
        """The kernel W of the last layer shared by every task, where GradNorm takes its norms.

        GradNorm (Chen et al. 2018, Sec. 3.1) measures G_W^(i) = ||grad_W w_i L_i|| on a
        subset W of the weights, "generally chosen as the last shared layer of weights": the
        layer whose output feeds every task. Here that is the last
        Dense layer of the encoder (in its topological order, `encoder.layers`) from whose
        output alone every encoder output can be computed: every task's gradient flows
        through it. Deterministic encoders: their last Dense (FC 384 of MTVIB Table I(b),
        FC 50 of LeNet). VIB encoder: the last FC 1024 before the bottleneck (Table I(d));
        not the bottleneck's mean layer, one of two parallel layers (mean / log-variance)
        that each carry only part of the gradient, and which, being inside the
        `VariationalBottleneck` layer, is not a top-level layer at all.

        Returns:
            The layer's kernel variable.

        Raises:
            ValueError: if no top-level Dense layer of the encoder feeds all its outputs.
        """
        outputs = self.encoder.output
        for layer in reversed(self.encoder.layers):
            if not isinstance(layer, keras.layers.Dense):
                continue
            # Public-API dependency test: a graph from this layer's output to every encoder
            # output builds only if nothing else (a parallel branch, the image itself) feeds
            # them. Symbolic only (KerasTensors): no ops or variables are created.
            try:
                keras.Function(layer.output, outputs)
            except (ValueError, AttributeError):
                # Not connected alone (a parallel branch), or a layer called more than once,
                # whose `output` is ambiguous: not a single shared layer.
                continue
            return layer.kernel
        raise ValueError(
            f"encoder {self.encoder.name!r} has no top-level Dense layer through which all its "
            "outputs pass, so GradNorm has no last shared layer to take its norms at"
        )

    # ------------------------------------------------------------------ evaluation
    def test_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        _, _, logits = self._forward(images, training=False)
        task_losses = tf.stack(self._task_losses(labels, logits))
        # "loss" in evaluation is the unweighted sum of task losses: comparable across
        # methods, whose training objectives differ.
        self._update_metrics(labels, logits, task_losses, tf.reduce_sum(task_losses))
        return _keras_logs({
            m.name: m.result()
            for m in self.metrics
            if m not in self.task_weight_trackers and m is not self.kl_tracker
        })
