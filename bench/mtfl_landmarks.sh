#!/usr/bin/env bash
# MTFL landmarks (issue #18 item 2): STL landmarks, landmarks + 4 attributes with GS, UWL,
# MTVIB, and Pareto MTL preferences, on the 2,995 AFLW test images (testing.txt).
# Budget (this 2-core machine, shared): 36x36 images (--image_size=36), 9,000 training
# images, 5 epochs, batch 50, Adam lr 1e-3; FGSM at eta 0, 0.01, 0.03, 0.1.
# Usage: bench/mtfl_landmarks.sh OUT_ROOT CHAIN   (CHAIN: a = stl gs uwl mtvib, b = pareto)
set -u
out=${1:?OUT_ROOT}; chain=${2:?a or b}
py=/work/main/.venv/bin/python
common=(--dataset=mtfl --data_dir=/work/shared/data --image_size=36 --train_size=9000
        --test_size=0 --epochs=5 --batch_size=50 --learning_rate=1e-3
        --etas=0,0.01,0.03,0.1 --export_dir= --verbose=0 --seed=0)
all=landmarks,gender,smile,glasses,pose
run() {  # name, flags...
  local name=$1; shift
  local start=$(date +%s)
  nice -n 5 $py main.py "${common[@]}" --output_dir="$out/$name" "$@" > "$out/$name.log" 2>&1
  echo "$name exit $? wall $(( $(date +%s) - start )) s" | tee -a "$out/walltimes.txt"
}
mkdir -p "$out"
if [ "$chain" = a ]; then
  run stl_landmarks --method=stl --tasks=landmarks
  run gs --method=gs --tasks=$all
  run uwl --method=uwl --tasks=$all
  run mtvib --method=mtvib --tasks=$all
else
  # Pareto MTL, 6 preference vectors over the 5 tasks: 0 = landmarks axis, 5 = the
  # balanced (1,1,1,1,1)/sqrt(5), 1 = gender axis.
  run pareto_pref0 --method=pareto_mtl --tasks=$all --num_preferences=6 --preference_index=0
  run pareto_pref5 --method=pareto_mtl --tasks=$all --num_preferences=6 --preference_index=5
  run pareto_pref1 --method=pareto_mtl --tasks=$all --num_preferences=6 --preference_index=1
fi
