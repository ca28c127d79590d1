#!/usr/bin/env bash
# The embedded-world method comparison of docs/openmede.md ("Embedded-world study").
#
#   benchmarks/embedded_study.sh OUT_DIR [SEEDS] [extra biasbench run options...]
#
# Runs frozen CLIP and every compared method on synth-scuba for each seed (default 0 1 2),
# all at the same number of training videos (the engine's embedded defaults), then prints
# `biasbench compare` with Open-MeDe's paired significance against each method. Runs resume:
# rerunning the script skips complete runs.
set -euo pipefail
out=${1:?usage: embedded_study.sh OUT_DIR [SEEDS] [options...]}
seeds=${2:-"0 1 2"}
shift $(( $# > 1 ? 2 : 1 ))
methods=${METHODS:-"frozen-clip plain grad-accum open-vclip froster openmede"}
for seed in $seeds; do
  for method in $methods; do
    extra=()
    # the first seed of trained methods also evaluates after every epoch (epoch curves)
    if [[ $seed == "${seeds%% *}" && $method != frozen-clip ]]; then
      extra=(--set method.eval_every=1)
    fi
    echo "== $method seed $seed"
    /usr/bin/time -f "wall %e s, peak RSS %M KiB" \
      biasbench run --method "$method" --protocol synth-scuba --seed "$seed" --out "$out" \
      --quiet --set eval.store_embeddings=true "${extra[@]}" "$@" 2>&1 | tail -n 15
  done
done
biasbench compare --root "$out" --protocol synth-scuba
