#!/bin/bash
# Issue #16 item 1: MTVIB Table III's key cells (GS with equal weights, UWL, MTVIB) on the
# full MultiMNIST (120,000 training / 10,000 test pairs), Adam 1e-4, batch 200, trained in
# stages: each stage raises --epochs of the same run directory, which resumes from its
# last checkpoint (the epochs done are exactly those of one uninterrupted run), and the
# stage's metrics.json is kept as <out>/<method>/epochs_<E>.json. A stage already kept is
# skipped, so rerunning the same command after a cut-off continues where it stopped.
#
# Usage: bash scripts/convergence_stages.sh DATA_DIR RUNS_DIR OUT_DIR [PYTHON]
#   EPOCH_STAGES="1 2 4 8" (default) chooses the stages.
# Then: python scripts/learning_curves.py --stages_dir=OUT_DIR --out=REPORT_DIR \
#   --paper_table=mtvib_table_iii
set -u
DATA=${1:?data dir}; RUNS=${2:?runs dir}; OUT=${3:?output dir}; PY=${4:-python}
cd "$(dirname "$0")/.."
for E in ${EPOCH_STAGES:-1 2 4 8}; do
  for m in gs uwl mtvib; do
    mkdir -p "$OUT/$m"
    [ -f "$OUT/$m/epochs_$E.json" ] && continue
    start=$(date +%s)
    nice -n 19 "$PY" main.py --method=$m --dataset=multi_mnist --data_dir="$DATA" \
      --train_size=120000 --test_size=10000 --epochs=$E --export_dir= \
      --output_dir="$RUNS/$m" > "$OUT/$m/printed_epochs_$E.txt" 2>&1 \
      || { echo "failed: $m epochs=$E (see $OUT/$m/printed_epochs_$E.txt)"; exit 1; }
    cp "$RUNS/$m/metrics.json" "$OUT/$m/epochs_$E.json"
    echo "$m epochs=$E wall=$(( $(date +%s) - start ))s" | tee -a "$OUT/walltimes.txt"
  done
done
