#!/usr/bin/env bash
# The study of scripts/study_showcase.ini in one command: sets up and builds (as demo.sh
# does), makes the pooled data (study_data/showcase: the demo's four languages, 1464 clean
# samples each, and a public pretraining corpus), runs the study's cells (a finished cell
# is skipped, a started one resumed: run it again after a kill) and summarises them into
# study_out/showcase/ (results.csv, study.md, plots/). 4-5 hours on 2 cores:
# on a cluster, run its cells as a Slurm job array instead (scripts/study_showcase.ini).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_common.sh
scripts/setup.sh
scripts/build.sh
demo_env
if [ ! -s study_data/showcase/pretrain.jsonl ]; then
  /usr/bin/python3 scripts/make_demo_data.py --out study_data/showcase --per-silo 1464 --bad-fractions 0,0,0,0 \
    --pretrain 2000 --pretrain-knows 1 --validation 2 --anchor 2 --test 1 --seed 0 >/dev/null
fi
build/bin/clues study plan scripts/study_showcase.ini
build/bin/clues study run scripts/study_showcase.ini
build/bin/clues study summarize scripts/study_showcase.ini
echo "study: summary in study_out/showcase/study.md, plots in study_out/showcase/plots/"
