#!/bin/bash
# The small preset comparison in docs/presets.md: each preset trained at the same small budget on one
# corpus, then `emorig eval` on its test split. Usage: examples/compare_presets.sh CORPUS_MANIFEST OUT_DIR
# (EVAL_DATA: another manifest to evaluate on; the docs' table used the test split of the corpus).
# The table: python examples/compare_table.py OUT_DIR/eval-*
set -euo pipefail
D=${1:?manifest}; OUT=${2:?output folder}; EVAL_DATA=${EVAL_DATA:-$D}
C="--batch 8 --lr 5e-4 --val-every 200 --window 200"
SMALL='--set d_speech=256 --set d_emo=64 --set tcn_channels=256 --set motion_channels=[128,128,256,256]'
mkdir -p "$OUT"
run() {
  name=$1; shift
  emorig train "$@" --data "$D" -o "$OUT/$name" $C
  emorig eval --model "$OUT/$name" --data "$EVAL_DATA" -o "$OUT/eval-$name"
}
run deitalk --preset deitalk --steps 400 $SMALL
run deitalk-novel --preset deitalk --steps 400 $SMALL --set w_vel=0
run deitalk-nodei --preset deitalk --steps 400 $SMALL --set dei=false
run deitalk-nodpe --preset deitalk --steps 400 $SMALL --set dpe=false
run emotalk --preset emotalk --steps 400 --set d_encoder=256 --set d_content=128 --set d_emotion=64 \
  --set classifier_hidden=128 --set d_ff=256
run emotalker --preset emotalker --steps 150 --set code_dim=64 --set vq_width=128 --set codebook_size=256 \
  --set d_audio=256 --set n_layers=2 --set d_ff=256 --set n_content=64
DSMALL='--set d_expr=128 --set dee_expr_layers=2 --set dee_expr_ff=256 --set d_content=256 --set tau_steps=150'
run deeptalk --preset deeptalk --steps 150 $DSMALL
run deeptalk-vq --preset deeptalk --steps 150 $DSMALL --set hierarchical=false
