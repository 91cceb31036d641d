#!/usr/bin/env bash
# MTFL landmarks (issue #18 item 2): STL landmarks, landmarks + 4 attributes with GS, UWL,
# MTVIB, and a Pareto MTL front between the landmarks and the attributes, on the 2,995
# AFLW test images (testing.txt).
# Budget (this 2-core machine): 36x36 images (--image_size=36), 9,000 training images,
# 10 epochs (1,800 steps), batch 50, Adam lr 1e-3, Small AlexNet; FGSM at eta 0.01,
# 0.03, 0.1.
# The front: 5 preference vectors in the plane of (landmarks, the 4 attributes equally),
# at 0, 22.5, 45, 67.5 and 90 degrees from the landmark axis
# (u = (cos t, sin t / 2, sin t / 2, sin t / 2, sin t / 2), unnormalised below).
# Usage: bench/mtfl_landmarks.sh OUT_ROOT CHAIN
#   CHAIN a: stl_landmarks gs uwl mtvib
#         b: pareto_scaled     (--pareto_loss_scale=initial: preferences on L_i / L_i(0))
#         c: pareto_reference  (--pareto_loss_scale=none: the reference, raw losses)
# Table: python bench/mtfl_landmarks_table.py OUT_ROOT
set -u
out=${1:?OUT_ROOT}; chain=${2:?a, b or c}
py=${PYTHON:-python}
common=(--dataset=mtfl --data_dir=../shared/data --image_size=36 --train_size=9000
        --test_size=0 --epochs=10 --batch_size=50 --learning_rate=1e-3
        --etas=0,0.01,0.03,0.1 --export_dir= --verbose=0 --seed=0)
all=landmarks,gender,smile,glasses,pose
prefs=1:0:0:0:0,1:0.207:0.207:0.207:0.207,2:1:1:1:1,1:1.207:1.207:1.207:1.207,0:1:1:1:1
run() {  # name, flags...
  local name=$1; shift
  local start=$(date +%s)
  $py main.py "${common[@]}" --output_dir="$out/$name" "$@" > "$out/$name.log" 2>&1
  echo "$name exit $? wall $(( $(date +%s) - start )) s" | tee -a "$out/walltimes.txt"
}
mkdir -p "$out"
case "$chain" in
  a) run stl_landmarks --method=stl --tasks=landmarks
     run gs --method=gs --tasks=$all
     run uwl --method=uwl --tasks=$all
     run mtvib --method=mtvib --tasks=$all ;;
  b) run pareto_scaled --method=pareto_mtl --tasks=$all --preferences=$prefs \
       --pareto_loss_scale=initial ;;
  c) run pareto_reference --method=pareto_mtl --tasks=$all --preferences=$prefs \
       --pareto_loss_scale=none ;;
  *) echo "CHAIN must be a, b or c" >&2; exit 2 ;;
esac
