#!/usr/bin/env bash
# The study of scripts/study_showcase.ini in one command: sets up and builds (as demo.sh
# does), makes the pooled data (study_data/showcase: the demo's four languages, 600 clean
# samples each, and a public pretraining corpus), runs the study's cells (a finished cell
# is skipped, a started one resumed: run it again after a kill) and summarises them into
# study_out/showcase/ (results.csv, study.md, plots/): about 1.5 hours on
# 2 cores. On a cluster, run its cells as a Slurm job array instead (scripts/study_showcase.ini).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_common.sh
shipped_study scripts/study_showcase.ini study_data/showcase 600 study_out/showcase
