# Sourced by scripts/demo.sh and scripts/seed_study.sh: the demo data, the environment of
# a demo run, and the per-silo flags of a demo data folder.
#   demo_prepare DATA PER_SILO  all of it: set up, build, demo_data, demo_env, demo_silo_flags
#   demo_data DATA PER_SILO   writes the demo data into DATA: make_demo_data.py, or the
#                             generator DATA_SCRIPT names (scripts/make_skills_data.py:
#                             the second benchmark; same flags and files)
#   demo_env                  Open MPI as root, one LibTorch thread per rank
#   demo_silo_flags DATA      fills the arrays SILO_FLAGS (--silo/--labels/--test, for
#                             clues run) and LABEL_FLAGS (--labels, for plot_scores.py)
#   shipped_study INI POOL PER_LANGUAGE OUT
#                             a study of the repository end to end: set up, build, its
#                             pool in POOL (the demo's four languages, PER_LANGUAGE clean
#                             samples each, and a public pretraining corpus), then clues
#                             study plan, run (a finished cell skipped, a started one
#                             resumed) and summarize into OUT

demo_prepare() {
  scripts/setup.sh
  scripts/build.sh
  demo_data "$1" "$2"
  demo_env
  demo_silo_flags "$1"
}

demo_data() {
  # The public corpus: 2000 dictionary pairs per language disjoint from the test,
  # validation and anchor sets, plus the correct translations of the silos' words (a
  # pretrained LLM knows common words; the corrupted answers are never in it).
  # PRETRAIN_KNOWS (default 1) is the share of the silos' answers put in the corpus.
  /usr/bin/python3 "${DATA_SCRIPT:-scripts/make_demo_data.py}" --out "$1" --per-silo "$2" --pretrain 2000 \
    --pretrain-knows "${PRETRAIN_KNOWS:-1}" --seed 0
}

demo_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
}

demo_silo_flags() {
  SILO_FLAGS=()
  LABEL_FLAGS=()
  local f name
  if ! compgen -G "$1/silos/*.jsonl" > /dev/null; then
    echo "no silos in $1/silos/ (make the demo data first: demo_data)" >&2
    return 2
  fi
  for f in "$1"/silos/*.jsonl; do
    name=$(basename "$f" .jsonl)
    LABEL_FLAGS+=(--labels "$name=$1/labels/$name.txt")
    SILO_FLAGS+=(--silo "$name=$f" --labels "$name=$1/labels/$name.txt" --test "$name=$1/test/$name.jsonl")
  done
}

shipped_study() {
  local ini=$1 pool=$2 per_language=$3 out=$4
  scripts/setup.sh
  scripts/build.sh
  demo_env
  # A pool made earlier with another size is made again; clues study then refuses the
  # study folder made from the old pool (its settings.json holds the old files' SHA-256).
  if [ ! -s "$pool/pretrain.jsonl" ] || [ "$(wc -l < "$pool/silos/deu.jsonl" 2>/dev/null)" != "$per_language" ]; then
    rm -rf "$pool"
    /usr/bin/python3 scripts/make_demo_data.py --out "$pool" --per-silo "$per_language" --bad-fractions 0,0,0,0 \
      --pretrain 2000 --pretrain-knows 1 --validation 2 --anchor 2 --test 1 --seed 0 >/dev/null
  fi
  build/bin/clues study plan "$ini"
  build/bin/clues study run "$ini"
  build/bin/clues study summarize "$ini"
  echo "study: summary in $out/study.md, plots in $out/plots/"
}
