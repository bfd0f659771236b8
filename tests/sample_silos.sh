#!/usr/bin/env bash
# ctest collab.sample_silos: train.sample_silos (silos drawn per round) in both modes. The
# draw depends on the seed and round alone, so 1 rank hosting 4 silos gives the scores of 2
# ranks hosting 2 each; a run killed after a warm-up round resumes to the same scores;
# sampling changes the warm-up (other scores than every silo training); report.json
# records the setting. train.local_epochs (steps per silo from its size) likewise: the same
# on any layout, other scores than local_steps, recorded. Usage: sample_silos.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1" "${2:-mpirun}"
small_demo
run() { run_small "$@" --train.sample_silos 0.5; }  # run RANKS OUT [ARGS...]
for mode in fedavg merge; do
  run 2 "$dir/$mode-r2" --collab "$mode"
  check "$mode: 2 ranks finish" test -s "$dir/$mode-r2/report.json"
  run 1 "$dir/$mode-r1" --collab "$mode"
  check "$mode: 1 rank = 2 ranks (the draw does not depend on the layout)" same "$dir/$mode-r1" "$dir/$mode-r2" 1e-9
  CLUES_FAILPOINT=warmup_round:1 run 2 "$dir/$mode-k" --collab "$mode"
  run 2 "$dir/$mode-k" --collab "$mode" --resume
  check "$mode: killed after round 1 and resumed = uninterrupted" same "$dir/$mode-k" "$dir/$mode-r2" 1e-12
done
"$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --compare.rows none --out "$dir/all" \
  >"$dir/all.log" 2>&1
check "sampling changes the warm-up" bash -c "test -s '$dir/all/scores.h5' && test -s '$dir/fedavg-r2/scores.h5' && ! /usr/bin/python3 '$src/tests/compare_scores.py' '$dir/all/scores.h5' '$dir/fedavg-r2/scores.h5' 1e-6 >/dev/null"
check "report.json records train.sample_silos" /usr/bin/python3 -c 'import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3]); sys.exit(0 if (a["sample_silos"], b["sample_silos"]) == (0.5, 0) else 1)' \
  "$dir/fedavg-r2/report.json" "$dir/all/report.json"
for ranks in 2 1; do
  "$mpiexec" --oversubscribe -np $ranks "$clues" run "${args[@]}" --compare.rows none \
    --train.local_epochs 0.5 --out "$dir/epochs-r$ranks" >"$dir/epochs-r$ranks.log" 2>&1
done
check "local_epochs: 1 rank = 2 ranks" same "$dir/epochs-r1" "$dir/epochs-r2" 1e-9
"$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --compare.rows none --out "$dir/steps" \
  >"$dir/steps.log" 2>&1
check "local_epochs changes the warm-up" bash -c "test -s '$dir/steps/scores.h5' && test -s '$dir/epochs-r2/scores.h5' && ! /usr/bin/python3 '$src/tests/compare_scores.py' '$dir/steps/scores.h5' '$dir/epochs-r2/scores.h5' 1e-6 >/dev/null"
check "report.json records train.local_epochs" /usr/bin/python3 -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["local_epochs"] == 0.5 else 1)' "$dir/epochs-r2/report.json"
exit "$fail"
