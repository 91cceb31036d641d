# The evaluation protocols of issue #15 as main.py flags, by name: sourced by
# bench/attack_protocols.sh and scripts/convergence_protocols.sh so both re-score with the
# same definitions. paper_candidate combines every deviation a paper might have made.
declare -A PROTOCOLS=(
  [clipped_softmax]="--attack_ce=clipped_softmax"
  [weighted]="--attack_loss=weighted"
  [per_task]="--attack_loss=per_task"
  [standardized]="--eta_units=standardized"
  [vib_sample]="--vib_prediction=sample"
  [vib_average12]="--vib_prediction=average --vib_prediction_samples=12"
  [paper_candidate]="--vib_prediction=sample --attack_loss=weighted --attack_ce=clipped_softmax --eta_units=standardized"
)
