#!/usr/bin/env bash
# ctest slurm.scripts: runs slurm/clues_cpu.sbatch (and clues_gpu.sbatch, GPU flags ignored)
# through the stand-ins for sbatch/srun/scontrol in tests/slurm_standin/ on 2 local ranks
# with tiny demo data and a tiny model, and checks: exit status 0 and the outputs; a
# resubmission of a finished run does nothing; a requeued start resumes from the warm-up
# checkpoints; USR1 (Slurm's warning before the time limit) makes the job requeue itself
# and still wait for srun. Usage: slurm_scripts.sh PATH/TO/clues [MPIRUN]
set -uo pipefail
clues=$(realpath "$1")
export MPIRUN=${2:-mpirun}
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export PATH=$src/tests/slurm_standin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail=0
check() {  # check DESCRIPTION COMMAND...: runs the command, records a failure
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}

for s in clues_cpu clues_gpu; do check "bash -n slurm/$s.sbatch" bash -n "$src/slurm/$s.sbatch"; done
if command -v shellcheck >/dev/null; then
  check "shellcheck slurm/*.sbatch and the stand-ins" shellcheck "$src"/slurm/*.sbatch "$src"/tests/slurm_standin/*
fi

/usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$dir/data" --per-silo 40 --validation 16 --anchor 16 \
  --test 10 >/dev/null || { echo "FAILED: make_demo_data.py"; exit 1; }

cd "$dir" || exit 1
export CLUES_BIN=$clues CLUES_DATA=$dir/data
export CLUES_EXTRA="--train.rounds 2 --train.local_steps 3 --model.d_model 32 --model.layers 1 --model.hidden 64 --progress 1000 --compare.rows none"
submit() {  # submit LOG SCRIPT: sbatch on 2 ranks of 1 thread, output to LOG; returns its status
  local log=$1 script=$2
  sbatch --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$src/slurm/$script" >"$log" 2>&1
}
# shellcheck disable=SC2317  # helpers called through check
has_report() { [ -s "$1/report.json" ] && [ -s "$1/scores.h5" ]; }
# shellcheck disable=SC2317
two_ranks_ran() {  # the report names a silo hosted by rank 1
  /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
sys.exit(0 if len(r["silos"]) == 4 and {s["host_rank"] for s in r["silos"].values()} == {0, 1} else 1)' "$1/report.json"
}

# 1. The CPU script, first start.
export CLUES_OUT=$dir/out
submit first.log clues_cpu.sbatch
check "clues_cpu.sbatch exits 0" test $? -eq 0
check "report.json and scores.h5 written" has_report "$CLUES_OUT"
check "4 silos on 2 ranks" two_ranks_ran "$CLUES_OUT"
check "log names 2 ranks and 1 thread each" grep -q "2 ranks on 1 node(s), 1 thread(s) each" first.log

# 2. Submitting it again (or a requeue after it finished) does nothing.
submit again.log clues_cpu.sbatch
check "a finished run is left alone (exit 0)" test $? -eq 0
check "... and says so" grep -q "already holds a finished run" again.log

# 3. A requeued job that was stopped after the warm-up resumes from its checkpoints.
rm "$CLUES_OUT/report.json"
SLURM_RESTART_COUNT=1 submit resume.log clues_cpu.sbatch
check "requeued start exits 0" test $? -eq 0
check "requeued start resumes the warm-up rounds" grep -q "resume: 2 of 2 warm-up rounds already done" resume.log
check "requeued start writes report.json" has_report "$CLUES_OUT"

# 4. USR1 before the time limit: the job requeues itself (scontrol) and waits for srun.
cat >"$dir/slow_clues" <<'EOF'
#!/bin/sh
sleep 3
EOF
chmod +x "$dir/slow_clues"
export STANDIN_SCONTROL_LOG=$dir/scontrol.log
# sbatch itself in the background: the stand-in execs the batch shell, so $! is its pid.
CLUES_BIN=$dir/slow_clues CLUES_OUT=$dir/out_signal STANDIN_JOB_ID=4242 \
  sbatch --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 "$src/slurm/clues_cpu.sbatch" >signal.log 2>&1 &
job=$!
# Signal once srun has started (the trap is set by then), as Slurm would, mid-run.
for _ in $(seq 100); do grep -q "srun (stand-in)" signal.log 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -USR1 "$job"
wait "$job"
rc=$?
check "after USR1 the job waits for srun and exits 0" test "$rc" -eq 0
check "after USR1 the job asks scontrol to requeue it" grep -q "^scontrol requeue 4242$" "$STANDIN_SCONTROL_LOG"
check "... and srun ran to its end" grep -q "srun exited with status 0" signal.log

# 5. The GPU script through the same stand-ins (GPU options ignored, computes on CPU).
CLUES_OUT=$dir/out_gpu submit gpu.log clues_gpu.sbatch
check "clues_gpu.sbatch (GPU flags ignored) exits 0" test $? -eq 0
check "clues_gpu.sbatch writes report.json and scores.h5" has_report "$dir/out_gpu"
check "srun stand-in was asked for one GPU per task" grep -q "gpus-per-task" gpu.log

if [ $fail -ne 0 ]; then
  for f in first again resume signal gpu; do echo "==== $f.log"; cat "$f.log" 2>/dev/null; done
fi
exit $fail
