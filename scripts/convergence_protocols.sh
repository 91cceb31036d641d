#!/bin/bash
# Issue #16 item 3: every attack protocol on the longest-trained models of
# scripts/convergence_stages.sh. Each finished run directory is copied first (the stage
# runner may be extending the original; a run being extended is refused by --mode=eval),
# then re-scored once per protocol with --mode=eval, which always recomputes the standard
# protocol beside the chosen one. Results land as OUT/results/<method>--<protocol>.json
# (the layout bench/attack_protocols_table.py reads) with wall times in OUT/times.txt; a
# result already there is skipped, so rerunning after a cut-off continues.
#
# Usage: bash scripts/convergence_protocols.sh RUNS_DIR OUT_DIR [PYTHON] [METHODS]
#   then: python bench/attack_protocols_table.py OUT_DIR
set -u
RUNS=${1:?runs dir}; OUT=${2:?output dir}; PY=${3:-python}; METHODS=${4:-gs uwl mtvib}
cd "$(dirname "$0")/.."
# The copies (checkpoints) stay beside the runs, never in OUT: OUT is a committed report.
COPIES="$RUNS/protocol_copies"
mkdir -p "$OUT/results" "$COPIES"
source bench/attack_protocols.inc.sh
for m in $METHODS; do
  copy="$COPIES/$m"
  if [ ! -d "$copy" ]; then
    rm -rf "$copy.partial" && cp -r "$RUNS/$m" "$copy.partial" && mv "$copy.partial" "$copy"
  fi
  for p in clipped_softmax weighted standardized vib_sample vib_average12 paper_candidate; do
    case "$p" in vib_*|paper_candidate) [ "$m" = mtvib ] || [ "$p" = paper_candidate ] || continue ;; esac
    [ -f "$OUT/results/$m--$p.json" ] && continue
    s=$(date +%s)
    # shellcheck disable=SC2086
    nice -n 10 "$PY" main.py --mode=eval --run_dir="$copy" ${PROTOCOLS[$p]} \
      > "$OUT/results/$m--$p.printed.txt" 2>&1 \
      || { echo "failed: $m $p (see $OUT/results/$m--$p.printed.txt)"; exit 1; }
    cp "$copy/metrics.json" "$OUT/results/$m--$p.json"
    echo "eval $m $p wall=$(( $(date +%s) - s ))s steps=$(python3 -c "import json;d=json.load(open('$copy/config.json'));print(d['epochs']*d['train_size']//d['batch_size'])") flags: ${PROTOCOLS[$p]}" >> "$OUT/times.txt"
  done
done
