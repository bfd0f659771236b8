#!/usr/bin/env bash
# The study of scripts/study_silos.ini in one command: sets up and builds (as demo.sh
# does), makes the pooled data (study_data/pool: the demo's four languages, 500 clean
# samples each, and a public pretraining corpus), runs the study's cells (a finished cell
# is skipped, a started one resumed: run it again after a kill) and summarises them into
# study_out/silos/ (results.csv, study.md, plots/). About 21 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_common.sh
shipped_study scripts/study_silos.ini study_data/pool 500 study_out/silos
