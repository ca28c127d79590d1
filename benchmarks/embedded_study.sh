#!/usr/bin/env bash
# The embedded-world method comparison of docs/openmede.md ("Embedded-world study"): a thin
# wrapper over the shipped sweep plan `embedded-study` (biasbench/plans/embedded-study.yaml).
#
#   benchmarks/embedded_study.sh [OUT_DIR] [biasbench sweep options, e.g. --jobs 1]
#
# Runs frozen CLIP, and every method that trains motion-clip plus four Open-MeDe ablations,
# on synth-scuba for seeds 0 1 2, all on one schedule (12 epochs, the engine's embedded
# defaults otherwise). Complete runs are skipped and
# partial ones resume; the sweep writes the report (OUT_DIR/report when OUT_DIR is given),
# then this prints `biasbench compare` with Open-MeDe's paired significance against each
# method. Other seeds or methods: copy the plan, edit its grid, `biasbench sweep FILE`.
set -euo pipefail
out=${1:-runs/embedded-study}
shift $(( $# > 0 ? 1 : 0 ))
/usr/bin/time -f "sweep wall %e s, peak RSS of the sweep process %M KiB" \
  biasbench sweep embedded-study --out "$out" "$@"
biasbench compare --root "$out" --protocol synth-scuba
