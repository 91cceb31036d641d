#!/usr/bin/env bash
# One short real run per method on MultiMNIST, all with the same small budget, then a
# table of their test accuracies (inference mode). Usage:
#   bash bench/method_sweep.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
data_dir=${1:-../shared/data}
out=${2:-runs/sweep}
methods=(gs stl stvib uwl mtvib gradnorm mgda pareto_mtl)
for m in "${methods[@]}"; do
  python main.py --method="$m" --dataset=multi_mnist --data_dir="$data_dir" \
    --train_size=10000 --test_size=2000 --epochs=2 --verbose=0 --export_dir= \
    --output_dir="$out/$m"
done
python - "$out" "${methods[@]}" <<'PY'
import json, sys
out, methods = sys.argv[1], sys.argv[2:]
print(f"{'method':<12}{'model':<16}{'top_left':>10}{'bottom_right':>14}{'joint':>8}{'wall s':>8}")
for m in methods:
    with open(f"{out}/{m}/metrics.json") as f:
        metrics = json.load(f)
    for model in metrics["models"]:
        acc = model["accuracy"]
        cells = [f"{acc[t]:.4f}" if t in acc else "-" for t in ("top_left", "bottom_right")]
        joint = model["joint_accuracy"] if len(acc) > 1 else float("nan")
        print(f"{m:<12}{model['name']:<16}{cells[0]:>10}{cells[1]:>14}{joint:>8.4f}"
              f"{metrics['wall_time_seconds']:>8.0f}")
    if metrics["accuracy"] and len(metrics["models"]) > 1:
        acc = metrics["accuracy"]
        print(f"{m:<12}{'(combined)':<16}{acc['top_left']:>10.4f}{acc['bottom_right']:>14.4f}"
              f"{metrics['joint_accuracy']:>8.4f}")
PY
