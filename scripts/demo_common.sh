# Sourced by scripts/demo.sh and scripts/seed_study.sh: the demo data, the environment of
# a demo run, and the per-silo flags of a demo data folder.
#   demo_prepare DATA PER_SILO  all of it: set up, build, demo_data, demo_env, demo_silo_flags
#   demo_data DATA PER_SILO   writes the demo data into DATA: make_demo_data.py, or the
#                             generator DATA_SCRIPT names (scripts/make_skills_data.py:
#                             the second benchmark; same flags and files)
#   demo_env                  Open MPI as root, one LibTorch thread per rank
#   demo_silo_flags DATA      fills the arrays SILO_FLAGS (--silo/--labels/--test, for
#                             clues run) and LABEL_FLAGS (--labels, for plot_scores.py)

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
