"""Per-epoch checkpoints that survive damage: strict restore, fallback, clean saves.

A checkpoint (`tf.train.Checkpoint`: model, optimizer, epoch counter) is written at the
end of every epoch by `tf.train.CheckpointManager`. Things that go wrong on real disks and
how each is handled here:

* a checkpoint written by another model configuration: refused by `restore_checkpoint`
  (every model variable must be matched), naming the checkpoint;
* the newest checkpoint damaged (data file missing, truncated or bit-flipped; TensorFlow
  checks every tensor's CRC32): `restore_newest_intact` warns, naming it, and resumes
  from the newest intact one, so at most the epochs after that are retrained;
* a save cut short (disk full, `kill -9`): TensorFlow writes into `ckpt-N_temp/` and
  renames at the end, so the folder left behind is only a temporary one;
  `remove_stale_temporaries` deletes such folders at start, and `save` turns a full disk
  into one line naming the directory.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import shutil

import tensorflow as tf
from absl import logging

# What TensorFlow raises when a checkpoint's files are missing, short or corrupt.
_DAMAGE = (tf.errors.OpError, ValueError, IndexError, OSError)


def restore_checkpoint(checkpoint: tf.train.Checkpoint, path: str,
                       *, partial: bool = False) -> None:
    """Restores `path` into `checkpoint`, insisting that every model variable is in it.

    A checkpoint that lacks some of the model's variables (written by another model, or
    by an older mtl_tf) would otherwise leave them silently at their initial values.

    Args:
      checkpoint: what to restore into.
      path: the checkpoint prefix.
      partial: the checkpoint may hold more than `checkpoint` (e.g. an optimizer that is
        not restored); every object of `checkpoint` must still be matched.

    Raises:
      ValueError: naming the checkpoint, when it does not hold every model variable.
      tf.errors.OpError, IndexError: its files are missing, truncated or corrupt.
    """
    status = checkpoint.restore(path)
    if partial:
        status = status.expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(
            f"checkpoint {path} does not hold every variable of this model (it was written "
            "by another model configuration or an older mtl_tf); delete that run directory "
            f"or use another --output_dir ({str(e).splitlines()[0][:200]})"
        ) from None


def damage_reason(error: BaseException) -> str:
    """One short line saying why a checkpoint could not be read: the error's type and the
    first line of its message, without TensorFlow's ``{{function_node ...}}`` prefix."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text.strip())
    return f"{type(error).__name__}: {text.splitlines()[0][:160] if text else ''}"


def _is_mismatch(error: BaseException) -> bool:
    return isinstance(error, ValueError) and "does not hold every variable" in str(error)


def restore_newest_intact(
    checkpoint: tf.train.Checkpoint, checkpoint_dir: str, *, partial: bool = False
) -> str | None:
    """Restores the newest checkpoint in `checkpoint_dir` that reads back intact.

    A damaged newer checkpoint is skipped with a warning naming it and why.

    Args:
      checkpoint: what to restore into.
      checkpoint_dir: a `tf.train.CheckpointManager` directory.
      partial: as in `restore_checkpoint`.

    Returns:
      The restored checkpoint prefix, or None when the directory has no checkpoint.

    Raises:
      ValueError: checkpoints exist but none is intact (naming each and the fix), or one
        was written by another model configuration.
    """
    state = tf.train.get_checkpoint_state(checkpoint_dir)
    prefixes = list(state.all_model_checkpoint_paths) if state else []
    if state and state.model_checkpoint_path and state.model_checkpoint_path not in prefixes:
        prefixes.append(state.model_checkpoint_path)
    # The state file may name checkpoints whose files are gone, and files may exist that
    # it does not name (its own write was cut short): consider both, newest first.
    on_disk = {p[: -len(".index")] for p in glob.glob(os.path.join(checkpoint_dir, "*.index"))}
    candidates = {os.path.join(checkpoint_dir, os.path.basename(p)) for p in prefixes} | on_disk
    candidates = sorted(candidates, key=_checkpoint_number, reverse=True)
    problems = []
    for prefix in candidates:
        try:
            restore_checkpoint(checkpoint, prefix, partial=partial)
        except _DAMAGE as e:
            if _is_mismatch(e):
                raise
            problems.append(f"{prefix}: {damage_reason(e)}")
            logging.warning("Checkpoint %s is damaged (%s); trying the previous one.",
                            prefix, damage_reason(e))
            continue
        if problems:
            logging.warning("Resumed from %s; the newer damaged checkpoint(s) will be "
                            "rewritten as training proceeds.", prefix)
        return prefix
    if problems:
        raise ValueError(
            f"every checkpoint in {checkpoint_dir} is damaged ({'; '.join(problems)}); "
            f"delete {checkpoint_dir} to train this model from the start"
        )
    return None


def _checkpoint_number(prefix: str) -> int:
    tail = os.path.basename(prefix).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def remove_stale_temporaries(checkpoint_dir: str, *, quiet: bool = False) -> list[str]:
    """Deletes `ckpt-N_temp/` folders left by a save that never finished.

    Only call this while holding the run directory's lock: a live save of another
    process would otherwise lose its temporary folder.

    Args:
      checkpoint_dir: the checkpoint directory.
      quiet: do not log each removal (the caller reports the failed save itself).

    Returns:
      The removed paths.
    """
    removed = []
    for path in glob.glob(os.path.join(checkpoint_dir, "*_temp")):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            if not quiet:
                logging.warning("Removed %s, left by a checkpoint save that did not finish.",
                                path)
    return removed


def save(manager: tf.train.CheckpointManager, checkpoint_number: int) -> str:
    """`manager.save`, with a full disk reported in one line and no temporary left behind.

    Raises:
      OSError: ENOSPC, naming the directory and how to resume.
    """
    try:
        return manager.save(checkpoint_number=checkpoint_number)
    except (tf.errors.ResourceExhaustedError, tf.errors.UnknownError, OSError) as e:
        text = getattr(e, "message", None) or str(e)
        full = isinstance(e, tf.errors.ResourceExhaustedError) or "No space left" in text \
            or getattr(e, "errno", None) == errno.ENOSPC
        remove_stale_temporaries(manager.directory, quiet=True)
        if not full:
            raise
        raise OSError(
            f"no space left on the device of {manager.directory} while saving the "
            f"checkpoint of epoch {checkpoint_number}; free some space and rerun the same "
            "command to resume from the last complete checkpoint",
        ) from None
