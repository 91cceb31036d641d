#!/usr/bin/env bash
# MTFL landmarks (issue #18 item 2): STL landmarks, landmarks + 4 attributes with GS, UWL,
# MTVIB, and a Pareto MTL front between the landmarks and the attributes, on the 2,995
# AFLW test images (testing.txt). Run from the repository root.
# Budget (this 2-core machine): SIZE x SIZE images (--image_size, default 36; Small AlexNet
# takes 36 or 150, MTVIB's MTFL input), 9,000 training images,
# batch 50, Adam lr 1e-3, Small AlexNet, seed SEED (default 0); FGSM at eta 0.01, 0.03, 0.1;
# EPOCHS (default 10), FRAMING (--mtfl_framing, default none) and UNITS
# (--regression_loss_units, default raw) from the environment.
# The front: 5 preference vectors in the plane of (landmarks, the 4 attributes equally),
# u = (cos t, sin t / 2, sin t / 2, sin t / 2, sin t / 2) (unnormalised below), with
# PREFS=axes (default): t = 0, 22.5, 45, 67.5, 90 degrees from the landmark axis, the
# Pareto MTL lattice (circle_points), whose two end vectors lie on the axes; or
# PREFS=midpoints: t = 9, 27, 45, 63, 81 degrees, the centres of 5 equal sectors. The end
# vectors' regions ask a loss ratio no useful model has (bench/MTFL_LANDMARKS.md).
# Usage: bench/mtfl_landmarks.sh OUT_ROOT JOB...   with JOB one of
#   stl gs uwl mtvib      STL landmarks; the 5 tasks with GS (equal weights), UWL, MTVIB
#   gs_grid               GS as MTVIB's baseline: a grid search of fixed weights, the 5
#                         points with one task at 2/6 and the others at 1/6, the best by
#                         validation joint accuracy on 1,000 held-out training images
#   pareto_scaled         all 5 preferences, --pareto_loss_scale=initial, one run
#   pareto_scaled_<i>     preference i only (a run of its own, to run in parallel)
#   pareto_reference_<i>  preference i, --pareto_loss_scale=none (the reference)
#   pareto_unit_<i>       preference i, --pareto_grad_normalization=l2 (min-norm steps on
#                         unit-length gradients; not the reference)
# The two tables of bench/MTFL_LANDMARKS.md:
#   bench/mtfl_landmarks.sh runs/mtfl10 stl gs uwl mtvib pareto_scaled \
#       pareto_reference_0 pareto_reference_4
#   EPOCHS=5 FRAMING=test bench/mtfl_landmarks.sh runs/mtfl-framed stl gs uwl mtvib \
#       pareto_scaled_0 pareto_scaled_1 pareto_scaled_2 pareto_scaled_3 pareto_scaled_4
# Table: python bench/mtfl_landmarks_table.py OUT_ROOT RUN...; figure:
#   python bench/mtfl_front_plot.py OUT_ROOT front.png TITLE
set -u
out=${1:?OUT_ROOT}; shift
py=${PYTHON:-python}
common=(--dataset=mtfl --data_dir=../shared/data --image_size="${SIZE:-36}" --train_size=9000
        --test_size=0 --epochs="${EPOCHS:-10}" --batch_size=50 --learning_rate=1e-3
        --mtfl_framing="${FRAMING:-none}" --regression_loss_units="${UNITS:-raw}" --etas=0,0.01,0.03,0.1 --export_dir= --verbose=0
        --seed="${SEED:-0}")
all=landmarks,gender,smile,glasses,pose
case ${PREFS:-axes} in
  axes) prefs=1:0:0:0:0,1:0.207:0.207:0.207:0.207,2:1:1:1:1,1:1.207:1.207:1.207:1.207,0:1:1:1:1 ;;
  midpoints) prefs=0.9877:0.0782:0.0782:0.0782:0.0782,0.8910:0.2270:0.2270:0.2270:0.2270
             prefs+=,0.7071:0.3536:0.3536:0.3536:0.3536,0.4540:0.4455:0.4455:0.4455:0.4455
             prefs+=,0.1564:0.4938:0.4938:0.4938:0.4938 ;;
  *) echo "PREFS must be axes or midpoints" >&2; exit 2 ;;
esac
pareto=(--method=pareto_mtl --tasks=$all --preferences=$prefs)
run() {  # name, flags...
  local name=$1; shift
  local start=$(date +%s)
  $py main.py "${common[@]}" --output_dir="$out/$name" "$@" > "$out/$name.log" 2>&1
  echo "$name exit $? wall $(( $(date +%s) - start )) s" | tee -a "$out/walltimes.txt"
}
mkdir -p "$out"
for job in "$@"; do
  case $job in
    stl) run stl_landmarks --method=stl --tasks=landmarks ;;
    gs|uwl|mtvib) run "$job" --method="$job" --tasks=$all ;;
    gs_grid) run "$job" --method=gs --tasks=$all --grid_points=5 --val_size=1000 ;;
    pareto_scaled) run "$job" "${pareto[@]}" --pareto_loss_scale=initial ;;
    pareto_scaled_[0-4]) run "$job" "${pareto[@]}" --pareto_loss_scale=initial \
                           --preference_index="${job##*_}" ;;
    pareto_reference_[0-4]) run "$job" "${pareto[@]}" --pareto_loss_scale=none \
                              --preference_index="${job##*_}" ;;
    pareto_unit_[0-4]) run "$job" "${pareto[@]}" --pareto_loss_scale=none \
                         --pareto_grad_normalization=l2 --preference_index="${job##*_}" ;;
    *) echo "unknown job $job" >&2; exit 2 ;;
  esac
done
