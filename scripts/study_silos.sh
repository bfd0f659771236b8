#!/usr/bin/env bash
# The study of scripts/study_silos.ini in one command: sets up and builds (as demo.sh
# does), makes the pooled data (study_data/pool: the demo's four languages, 500 clean
# samples each, and a public pretraining corpus), runs the study's cells (a finished cell
# is skipped, a started one resumed: run it again after a kill) and summarises them into
# study_out/silos/ (results.csv, study.md, plots/). About 21 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_common.sh
scripts/setup.sh
scripts/build.sh
demo_env
if [ ! -s study_data/pool/pretrain.jsonl ]; then
  /usr/bin/python3 scripts/make_demo_data.py --out study_data/pool --per-silo 500 --bad-fractions 0,0,0,0 \
    --pretrain 2000 --pretrain-knows 1 --validation 2 --anchor 2 --test 1 --seed 0 >/dev/null
fi
build/bin/clues study plan scripts/study_silos.ini
build/bin/clues study run scripts/study_silos.ini
build/bin/clues study summarize scripts/study_silos.ini
echo "study: summary in study_out/silos/study.md, plots in study_out/silos/plots/"
