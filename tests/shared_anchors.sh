#!/usr/bin/env bash
# ctest scoring.shared_anchors: under fedavg the silos a rank hosts share one judging
# model, so their anchors' per-sample gradients are computed once per checkpoint and only
# each silo's Γ differs (score.shared_anchor_mib). The shared path must give the reference
# path's scores bit for bit (score.shared_anchor_mib 0: each silo's anchors on their own),
# in one block or in blocks of one batch, and a run killed in the middle of the shared
# anchors must resume to the same bits. Usage: shared_anchors.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1" "${2:-mpirun}"
small_demo
run() { run_small "$@"; }
run 2 "$dir/alone" --score.shared_anchor_mib 0
check "reference path (shared_anchor_mib 0) finishes" test -s "$dir/alone/scores.h5"
run 2 "$dir/shared"
check "shared anchors (one block) = each silo's anchors alone, bit for bit" same "$dir/alone" "$dir/shared" 0
run 1 "$dir/blocks" --score.shared_anchor_mib 0.000001
check "blocks of one batch on 1 rank hosting 4 silos = the reference, bit for bit" same "$dir/alone" "$dir/blocks" 0
# The shared pass journals each silo's anchor dots batch by batch. Rank 0 hosts 2 silos of
# 40 samples (10 batches of 8 at checkpoint 0), then the 16 anchors in blocks of one batch:
# its 13th batch is the first silo's second anchor batch, so it dies with that silo's
# anchors journalled whole and the other's half; the resumed run must agree.
CLUES_FAILPOINT=scoring_batch:13:0 run 2 "$dir/killed" --score.shared_anchor_mib 0.000001
check "the killed run did not finish" test ! -s "$dir/killed/scores.h5"
run 2 "$dir/killed" --score.shared_anchor_mib 0.000001 --resume
check "killed inside the shared anchors and resumed = uninterrupted, bit for bit" same "$dir/alone" "$dir/killed" 0
check "the resumed run continued the anchors' journal" grep -q "resume: anchor_for_" "$dir/killed.log"
"$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --score.shared_anchor_mib -1 --out "$dir/bad" >"$dir/bad.log" 2>&1
check "a negative shared_anchor_mib is refused with exit 2" test $? -eq 2
check "... naming the key" grep -q "score.shared_anchor_mib" "$dir/bad.log"
exit $fail
