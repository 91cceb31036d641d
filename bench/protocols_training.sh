#!/usr/bin/env bash
# Issue #15's training-side protocols, each against today's default, at one common budget
# on real MultiMNIST (12,000 / 2,000 pairs, 3 epochs, seed 0), niced to leave the machine
# usable. Results and wall times: bench/PROTOCOLS_TRAINING.md. Usage:
#   bash bench/protocols_training.sh [DATA_DIR] [OUT_DIR] [PYTHON] [GROUP ...]
# GROUP: vib, gradnorm, pareto, pareto_long (default: all four).
set -euo pipefail
data_dir=${1:-../shared/data}
out=${2:-runs/protocols_training}
python=${3:-python}
groups=("${@:4}")
[ ${#groups[@]} -eq 0 ] && groups=(vib gradnorm pareto pareto_long)
budget=(--dataset=multi_mnist --data_dir="$data_dir" --train_size=12000 --test_size=2000
        --epochs=3 --seed=0 --verbose=2 --export_dir=)
run() {  # name, flags...
  local name=$1; shift
  local start=$(date +%s)
  nice -n 5 "$python" main.py "${budget[@]}" --output_dir="$out/$name" "$@"
  echo "$name wall $(( $(date +%s) - start )) s" | tee -a "$out/wall_times.txt"
}
mkdir -p "$out"
pareto=(--method=pareto_mtl --backbone=lenet --optimizer=sgd --learning_rate=1e-3
        --momentum=0.9 --batch_size=256 --num_preferences=5 --pareto_max_init_epochs=2)
for group in "${groups[@]}"; do
  case $group in
    vib)  # Item 3: the VIB posterior (MTVIB, clean and FGSM accuracy).
      run mtvib-log_var --method=mtvib --vib_posterior=log_var
      run mtvib-softplus --method=mtvib --vib_posterior=softplus ;;
    gradnorm)  # Item 4: GradNorm's weight update; per-step curves for the plot.
      run gradnorm-step --method=gradnorm --gradnorm_update=step --tb_update_freq=batch
      run gradnorm-optimizer --method=gradnorm --gradnorm_update=optimizer \
        --tb_update_freq=batch ;;
    pareto)  # Items 2 and 5: Pareto MTL on LeNet with the reference's SGD 1e-3 momentum
      # 0.9, batch 256 and its halving at epochs 15, ..., 90 of 100 scaled to 3 epochs
      # (x 0.03), Keras' vs PyTorch's initialisation; then PyTorch's without the schedule.
      scaled=(--lr_schedule=multistep --lr_milestones=0.45,0.9,1.35,1.8,2.25,2.7)
      run pareto-keras-multistep "${pareto[@]}" "${scaled[@]}" --weight_init=keras
      run pareto-pytorch-multistep "${pareto[@]}" "${scaled[@]}" --weight_init=pytorch
      run pareto-pytorch-constant "${pareto[@]}" --weight_init=pytorch ;;
    pareto_long)  # The same at 30 epochs (schedule x 0.3): at 3 epochs (141 steps of
      # SGD 1e-3) no variant leaves chance level.
      long=(--epochs=30 --lr_schedule=multistep --lr_milestones=4.5,9,13.5,18,22.5,27)
      run pareto30-pytorch-multistep "${pareto[@]}" "${long[@]}" --weight_init=pytorch
      run pareto30-keras-multistep "${pareto[@]}" "${long[@]}" --weight_init=keras
      run pareto30-pytorch-constant "${pareto[@]}" --epochs=30 --weight_init=pytorch
      run pareto30-keras-constant "${pareto[@]}" --epochs=30 --weight_init=keras ;;
    *) echo "unknown group $group (vib, gradnorm, pareto, pareto_long)" >&2; exit 2 ;;
  esac
done
