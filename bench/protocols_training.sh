#!/usr/bin/env bash
# Issue #15's training-side protocols, each against today's default, at one common budget
# on real MultiMNIST (12,000 / 2,000 pairs, 3 epochs, seed 0), niced to leave the machine
# usable. Results and wall times: bench/PROTOCOLS_TRAINING.md. Usage:
#   bash bench/protocols_training.sh [DATA_DIR] [OUT_DIR] [PYTHON]
set -euo pipefail
data_dir=${1:-../shared/data}
out=${2:-runs/protocols_training}
python=${3:-python}
budget=(--dataset=multi_mnist --data_dir="$data_dir" --train_size=12000 --test_size=2000
        --epochs=3 --seed=0 --verbose=2 --export_dir=)
run() {  # name, flags...
  local name=$1; shift
  local start=$(date +%s)
  nice -n 5 "$python" main.py "${budget[@]}" --output_dir="$out/$name" "$@"
  echo "$name wall $(( $(date +%s) - start )) s" | tee -a "$out/wall_times.txt"
}
mkdir -p "$out"
# Item 3: the VIB posterior (MTVIB, clean and FGSM accuracy).
run mtvib-log_var --method=mtvib --vib_posterior=log_var
run mtvib-softplus --method=mtvib --vib_posterior=softplus
# Item 4: GradNorm's weight update; per-step curves for bench/gradnorm_weights.py.
run gradnorm-step --method=gradnorm --gradnorm_update=step --tb_update_freq=batch
run gradnorm-optimizer --method=gradnorm --gradnorm_update=optimizer --tb_update_freq=batch
# Items 2 and 5: Pareto MTL on LeNet, the reference's SGD 1e-3 momentum 0.9, batch 256,
# its halving at epochs 15, 30, ..., 90 of 100 scaled to 3 epochs (x 0.03), with Keras'
# and with PyTorch's initialisation; then PyTorch's without the schedule.
pareto=(--method=pareto_mtl --backbone=lenet --optimizer=sgd --learning_rate=1e-3
        --momentum=0.9 --batch_size=256 --num_preferences=5 --pareto_max_init_epochs=2)
scaled=(--lr_schedule=multistep --lr_milestones=0.45,0.9,1.35,1.8,2.25,2.7 --lr_decay=0.5)
run pareto-keras-multistep "${pareto[@]}" "${scaled[@]}" --weight_init=keras
run pareto-pytorch-multistep "${pareto[@]}" "${scaled[@]}" --weight_init=pytorch
run pareto-pytorch-constant "${pareto[@]}" --weight_init=pytorch
