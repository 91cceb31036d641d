#!/bin/bash
# Issue #15 items 1, 6, 7: train MTVIB, UWL and GS once on real MultiMNIST at one budget,
# then re-score each finished run under every evaluation protocol (--mode=eval). Each
# re-scoring also recomputes the standard protocol (always reported). Results are copied
# to $OUT/results/<method>--<protocol>.json with their wall times in $OUT/times.txt;
# bench/attack_protocols_table.py turns them into the tables of bench/ATTACK_PROTOCOLS.md.
#
#   PYTHON=python DATA_DIR=../shared/data bash bench/attack_protocols.sh [OUT=runs/ap]
set -u
OUT=${1:-runs/ap}
PY=${PYTHON:-python}
DATA=${DATA_DIR:-../shared/data}
mkdir -p "$OUT/results"
for m in mtvib uwl gs; do
  if [ ! -f "$OUT/$m/metrics.json" ]; then
    s=$(date +%s.%N)
    nice -n 5 $PY main.py --method=$m --dataset=multi_mnist --data_dir="$DATA" \
      --train_size=12000 --test_size=2000 --epochs=3 --output_dir="$OUT/$m" --export_dir= \
      --verbose=2 > "$OUT/$m.train.log" 2>&1
    echo "train $m rc=$? wall=$(echo "$(date +%s.%N) - $s" | bc)" >> "$OUT/times.txt"
  fi
done
source "$(dirname "$0")/attack_protocols.inc.sh"
for p in clipped_softmax weighted per_task standardized vib_sample vib_average12 paper_candidate; do
  for m in mtvib uwl gs; do
    case "$p" in vib_*) [ "$m" = mtvib ] || continue ;; esac
    s=$(date +%s.%N)
    # shellcheck disable=SC2086
    nice -n 5 $PY main.py --mode=eval --run_dir="$OUT/$m" ${PROTOCOLS[$p]} \
      > "$OUT/results/$m--$p.log" 2>&1
    rc=$?
    echo "eval $m $p rc=$rc wall=$(echo "$(date +%s.%N) - $s" | bc) flags: ${PROTOCOLS[$p]}" >> "$OUT/times.txt"
    cp "$OUT/$m/metrics.json" "$OUT/results/$m--$p.json"
  done
done
