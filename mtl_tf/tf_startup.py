"""Starting TensorFlow without its C++ start-up chatter on a CPU machine.

TensorFlow's C++ libraries log while they load (the oneDNN notice, "Could not find cuda
drivers") and when they first probe for GPUs ("failed call to cuInit: ... CUDA error").
Those lines are written through absl's C++ logging before anything has initialised it,
and absl then writes every message to stderr whatever TF_CPP_MIN_LOG_LEVEL says (an
abseil-cpp limitation). So `import_tensorflow` captures file descriptor 2 while
TensorFlow loads and probes its devices, and replays what it captured through the same
level filter TensorFlow applies to its later lines. Python's own output during that time
(warnings, absl Python logging) is replayed unchanged, and everything is replayed if the
import fails.

This module imports TensorFlow only inside `import_tensorflow`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import types

__all__ = ["DEFAULT_TF_LOG_LEVEL", "filter_startup_lines", "import_tensorflow", "tf_log_level"]

# TF_CPP_MIN_LOG_LEVEL when neither the flag nor the environment sets one: no INFO or
# WARNING lines, errors shown.
DEFAULT_TF_LOG_LEVEL = 2

# A C++ absl log line written before absl::InitializeLog(): "I0000 00:00:1796271717.959 ...
# port.cc:153] ...", with the zero date absl uses then. Python absl log lines carry a real
# date ("W1203 04:22:10.573900 ..."), so they do not match.
_CPP_LINE = re.compile(r"^([IWEF])0000 00:00:\d+\.\d+\s+\d+ [^\s:]+:\d+\] ")
# TensorFlow's own pre-absl format, kept for older builds: "2024-01-01 12:00:00.0: I ...".
_OLD_TF_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) ")
# Python's own output, never filtered here: absl Python logging, a `warnings` message
# ("/path/x.py:3: UserWarning: ..."), a traceback.
_PYTHON_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ |.+:\d+: \w*(Warning|Error)\b|Traceback )")
_PRE_INIT_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def tf_log_level(flag_value: int | None, environ: dict[str, str] | None = None) -> int:
    """The TensorFlow C++ log level to use, and sets TF_CPP_MIN_LOG_LEVEL to it.

    An explicit `--tf_log_level` wins; else a TF_CPP_MIN_LOG_LEVEL the user exported is
    kept as it is; else `DEFAULT_TF_LOG_LEVEL`. Must run before TensorFlow is imported:
    TensorFlow reads the variable once, when it loads.

    Args:
      flag_value: `--tf_log_level`, None when not given.
      environ: the environment to read and update (default `os.environ`).

    Returns:
      The level, 0 (everything) .. 3 (no INFO, WARNING or ERROR).
    """
    env = os.environ if environ is None else environ
    if flag_value is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = str(flag_value)
        return flag_value
    if "TF_CPP_MIN_LOG_LEVEL" not in env:
        env["TF_CPP_MIN_LOG_LEVEL"] = str(DEFAULT_TF_LOG_LEVEL)
        return DEFAULT_TF_LOG_LEVEL
    try:
        return min(max(int(env["TF_CPP_MIN_LOG_LEVEL"]), 0), 3)
    except ValueError:
        return 0  # TensorFlow ignores a value it cannot parse, and shows everything


def _no_nvidia_driver() -> bool:
    # Without the NVIDIA kernel driver a failed cuInit only says "this machine has no
    # GPU"; with it, the failure is a real problem worth its ERROR.
    return not os.path.exists("/proc/driver/nvidia/version")


def filter_startup_lines(text: str, level: int, no_gpu_driver: bool = True) -> str:
    """The lines of TensorFlow's start-up output that `level` lets through.

    A C++ log line (and the lines continuing its message) is kept when its severity
    (I 0, W 1, E 2, F 3) is at least `level`; absl's notice that it logs to stderr before
    initialisation counts as INFO, and so does the failed CUDA probe when
    `no_gpu_driver`. Every other line (Python's output) is kept.

    Args:
      text: what was written to stderr while TensorFlow started.
      level: the TensorFlow C++ log level, 0..3.
      no_gpu_driver: the machine has no NVIDIA driver.

    Returns:
      The kept lines, newline-terminated ("" when none is kept).
    """
    kept = []
    keep_continuation = True  # lines before the first log line are Python's: kept
    for line in text.splitlines(keepends=True):
        match = _CPP_LINE.match(line) or _OLD_TF_LINE.match(line)
        if match:
            severity = _SEVERITY[match.group(1)]
            if no_gpu_driver and "failed call to cuInit" in line:
                severity = 0
            keep_continuation = severity >= level
        elif line.startswith(_PRE_INIT_NOTICE):
            keep_continuation = level == 0
        elif _PYTHON_LINE.match(line):
            keep_continuation = True
        # else: the next line of the current message (e.g. cpu_feature_guard's list of
        # instructions), kept or dropped with it.
        if keep_continuation:
            kept.append(line if line.endswith("\n") else line + "\n")
    return "".join(kept)


def import_tensorflow(level: int) -> types.ModuleType:
    """Imports TensorFlow and probes its GPUs with start-up lines filtered by `level`.

    Probing the GPUs (`tf.config.list_physical_devices`) is where the CUDA failure of a
    CPU machine is logged; it does not initialise the runtime, so a distribution strategy
    or logical device configuration can still be set up afterwards.

    Args:
      level: the TensorFlow C++ log level, 0..3 (see `tf_log_level`).

    Returns:
      The `tensorflow` module.
    """
    if "tensorflow" in sys.modules or level == 0:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        except Exception:
            failed = True  # not for Ctrl-C: the start-up lines do not explain that
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            # On failure everything is shown: the lines may explain it.
            shown = text if failed else filter_startup_lines(text, level, _no_nvidia_driver())
            if shown:
                sys.stderr.write(shown)
                sys.stderr.flush()
    return tf
