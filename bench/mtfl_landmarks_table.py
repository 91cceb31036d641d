"""The MTFL landmarks table (bench/MTFL_LANDMARKS.md) from the runs of mtfl_landmarks.sh.

Prints a markdown table: per model, test NME (TCDCN: mean landmark error / eye-centre
distance) and attribute accuracies on the 2,995 AFLW test images, beside the trivial
baselines (the mean training shape's NME; each attribute's majority class), and the
NME under FGSM, and which tasks a model does not clearly beat its trivial baseline on
(attributes: by at least 1 point over both the training majority and the test-set
majority share; landmarks: an NME at least 10% below the mean shape's), and the angle of
the model's last-epoch training losses in the plane of the Pareto MTL preferences:
atan2(sum of the 4 attribute losses / 2, landmark loss) in degrees, the angle t of the
preference u = (cos t, sin t / 2, ...) the losses point at (Pareto MTL's region k holds
the loss vectors whose angle is nearest preference k's).
With --mtfl_framing=test runs, the mean shape is the training crops' (read from the
runs' config.json). Usage: python bench/mtfl_landmarks_table.py OUT_ROOT [RUN ...]
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from mtl_tf.data.mtfl import load_mtfl  # noqa: E402
from mtl_tf.evaluation.metrics import landmark_nme  # noqa: E402

ATTRIBUTES = ("gender", "smile", "glasses", "pose")
# The real data beside the repository (../shared/data), as in bench/mtfl_landmarks.sh.
DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                        "shared", "data")
RUNS = ("stl_landmarks", "gs", "uwl", "mtvib", "pareto_scaled", "pareto_reference")
# "Clearly beats": by this many accuracy points, or this fraction of the mean shape's NME.
MARGIN_POINTS = 1.0
MARGIN_NME = 0.10


def baselines(data_dir: str, framing: str = "none") -> dict:
    # With --mtfl_framing=test the training landmarks are in the crops' frame, so the
    # mean training shape is taken there too (the trivial model of that data).
    data = load_mtfl(data_dir, train_size=9000, test_size=0, seed=0,
                     tasks=("landmarks", *ATTRIBUTES), framing=framing)
    train, test = data.labels("train"), data.labels("test")
    mean = train["landmarks"].mean(0)
    out = {"nme": float(landmark_nme(np.broadcast_to(mean, test["landmarks"].shape),
                                     test["landmarks"], (0, 1)).mean())}
    for t in ATTRIBUTES:
        # The training set's majority class scored on the test set, and the test set's
        # own majority share (an oracle, the stronger of the two: AFLW has more women
        # than the training images, so "male" scores 39.2% on it).
        majority = np.bincount(train[t]).argmax()
        out[t] = float(np.mean(test[t] == majority))
        out[f"{t}_oracle"] = float(np.bincount(test[t]).max() / len(test[t]))
    return out


def loss_angle(root: str, run: str, model: dict) -> str:
    """Angle (degrees) of a model's last-epoch training losses, see the docstring."""
    path = os.path.join(root, run, model.get("directory") or "", "last_epoch_logs.json")
    if not os.path.exists(path):
        path = os.path.join(root, run, "last_epoch_logs.json")
    if not os.path.exists(path):
        return ""
    logs = json.load(open(path, encoding="utf-8"))
    if "landmarks_loss" not in logs or not all(f"{t}_loss" in logs for t in ATTRIBUTES):
        return ""
    attributes = sum(logs[f"{t}_loss"] for t in ATTRIBUTES) / 2
    return f"{np.degrees(np.arctan2(attributes, logs['landmarks_loss'])):.0f}"


def main() -> None:
    root, runs = sys.argv[1], tuple(sys.argv[2:]) or RUNS
    framing = "none"
    for run in runs:  # the runs' own --mtfl_framing (all runs of a table share it)
        path = os.path.join(root, run, "config.json")
        if os.path.exists(path):
            framing = json.load(open(path, encoding="utf-8")).get("mtfl_framing", "none")
            break
    base = baselines(DATA_DIR, framing)
    walls = {}
    if os.path.exists(os.path.join(root, "walltimes.txt")):
        for line in open(os.path.join(root, "walltimes.txt"), encoding="utf-8"):
            fields = line.split()  # "<name> exit <code> wall <seconds> s ..."
            if len(fields) >= 5 and fields[3] == "wall" and fields[4].isdigit():
                walls[fields[0]] = int(fields[4])
    header = ("| model | NME | gender | smile | glasses | pose | mean attr. | NME FGSM "
              "0.01 / 0.03 / 0.1 | weights (last epoch) | training-loss angle | not clearly above "
              "trivial | wall s |")
    lines = [header, "|" + " --- |" * 12,
             f"| trivial: mean training shape; training majority class | {base['nme']:.4f} | "
             + " | ".join(f"{100 * base[t]:.1f}" for t in ATTRIBUTES)
             + f" | {100 * np.mean([base[t] for t in ATTRIBUTES]):.1f} | | | | | |",
             "| trivial: test-set majority share (oracle) | | "
             + " | ".join(f"{100 * base[t + '_oracle']:.1f}" for t in ATTRIBUTES)
             + f" | {100 * np.mean([base[t + '_oracle'] for t in ATTRIBUTES]):.1f} | | | | | |"]
    for run in runs:
        path = os.path.join(root, run, "metrics.json")
        if not os.path.exists(path):
            lines.append(f"| {run} | (not run) | | | | | | | | | | |")
            continue
        metrics = json.load(open(path, encoding="utf-8"))
        for model in metrics["models"]:
            nme = model.get("error", {}).get("landmarks", {}).get("nme")
            acc = model.get("accuracy") or {}
            cells = [f"{100 * acc[t]:.1f}" if t in acc else "" for t in ATTRIBUTES]
            mean_acc = (f"{100 * np.mean([acc[t] for t in ATTRIBUTES]):.1f}"
                        if all(t in acc for t in ATTRIBUTES) else "")
            rob = (model.get("robustness") or {}).get("error") or {}
            attacked = " / ".join(f"{rob[k]['landmarks']:.3f}" for k in ("0.01", "0.03", "0.1")
                                  if k in rob and "landmarks" in rob[k])
            weights = ", ".join(f"{v:.3g}" for v in (model.get("task_weights") or {}).values())
            name = run if model["name"] in (metrics["method"], "landmarks") else \
                f"{run} ({model['name']})"
            if model.get("preference"):
                name += " u=(" + ", ".join(f"{v:.2f}" for v in model["preference"]) + ")"
            below = [t for t in ATTRIBUTES if t in acc and 100 * acc[t] < MARGIN_POINTS
                     + 100 * max(base[t], base[t + "_oracle"])]
            if nme is not None and nme > (1 - MARGIN_NME) * base["nme"]:
                below.insert(0, "landmarks")
            lines.append(f"| {name} | {nme:.4f} | " + " | ".join(cells)
                         + f" | {mean_acc} | {attacked} | {weights} | "
                         f"{loss_angle(root, run, model)} | {', '.join(below)} | "
                         f"{walls.get(run, '')} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
