#!/usr/bin/python3
"""A benchmark workload run end to end: `clues run` itself, its phases timed, not verified.

    benchmarks/end_to_end.py WORKLOAD [--ranks N] [--mode weak|strong] [--out results.jsonl]
                             [--mpirun 'mpirun -np {n}'] [--rounds R] [--local-steps L]

benchmarks/bench.py times and verifies the scoring kernel of a workload (clues-bench-score).
This driver runs the whole pipeline on the workload's shape with the built-in model
(model.vocab, d_model, layers, heads, hidden, LoRA rank and alpha, dtype, device, threads,
score engine, Adam preconditioning and batch from the workload file) on random byte text of
the workload's sequence and prompt length: warm-up (R rounds of L steps per silo), the
validation gradient and scoring at every checkpoint, the threshold and selection, the outputs.
No comparison rows. Weak scaling: one silo of samples_per_rank samples per rank; strong:
samples_per_rank samples in all, one silo per rank.

It reports, from the run's report.json: the seconds of every phase (the slowest rank's),
the seconds inside MPI calls in each phase (the most of any rank, waiting included) and the
bytes they moved (all ranks), the ranks' peak resident memory, and scored samples/s
(samples x checkpoints / scoring seconds). These figures are reported, NOT verified:
training amplifies rounding, so the scores of a run that trains differ between machines by
more than the gaps a benchmark would want to resolve; bench.py verifies what is
deterministic up to rounding. Workloads with grouped-query attention (kv_heads > 0) are
refused: the built-in model has none. Python 3 standard library; docs/benchmarks.md.
"""
import argparse
import datetime
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the workload files, the system record, the launcher template)

WORDS = ("data", "silo", "model", "score", "gradient", "anchor", "threshold", "sample", "token", "layer",
         "round", "merge", "average", "select", "quality", "public", "private", "checkpoint", "rank", "batch")


def text(rng, chars):
    """Random lower-case words, exactly `chars` characters (the built-in model reads bytes)."""
    out = []
    while sum(len(w) + 1 for w in out) < chars:
        out.append(rng.choice(WORDS))
    return " ".join(out)[:chars]


def write_jsonl(path, n, rng, prompt, response):
    with open(path, "w") as f:
        for _ in range(n):
            f.write(json.dumps({"instruction": text(rng, prompt), "output": text(rng, response)}) + "\n")


def main():
    ap = bench.driver_arguments(__doc__, "clues", "mpirun --oversubscribe -np {n}")
    ap.add_argument("--rounds", type=int, default=2, help="warm-up rounds = checkpoints (default: %(default)s)")
    ap.add_argument("--local-steps", type=int, default=5, help="optimizer steps per silo and round (default: %(default)s)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="change a workload field")
    ap.add_argument("--keep", metavar="DIR", help="keep the data and the run in DIR (default: a temporary folder)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--tag", default="", help="free text stored in the record")
    args = ap.parse_args()

    w = bench.load_workload(args.workload)
    for s in args.set:
        bench.apply_override(w, s)
    m, d, sc, run = w["model"], w["data"], w["score"], w["run"]
    if m.get("kv_heads", 0):
        sys.exit(f"end_to_end: workload {w['name']} has kv_heads {m['kv_heads']}: the built-in model has no "
                 "grouped-query attention; use --set model.kv_heads=0 (a larger model) or bench.py")
    if run["device"] == "cuda" and bench.gpus() is None:
        print(f"end_to_end: skipped: workload {w['name']} needs device cuda and this machine has no GPU (no nvidia-smi)")
        return 0
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"end_to_end: no {args.bin}: build first (scripts/build.sh)")
    n = args.ranks
    per_rank = d["samples_per_rank"]
    if args.mode == "strong" and per_rank % n:
        sys.exit(f"end_to_end: strong scaling splits {per_rank} samples evenly; {n} ranks do not divide it")
    per_silo = per_rank if args.mode == "weak" else per_rank // n

    work = args.keep or tempfile.mkdtemp(prefix="clues-e2e-")
    os.makedirs(work, exist_ok=True)
    rng = random.Random(d["seed"])
    prompt, response = d["prompt_len"], d["seq_len"] - d["prompt_len"]
    silos = []
    for r in range(n):
        path = os.path.join(work, f"silo{r}.jsonl")
        write_jsonl(path, per_silo, rng, prompt, response)
        silos += ["--silo", f"silo{r}={path}"]
    for name in ("validation", "anchor"):
        write_jsonl(os.path.join(work, name + ".jsonl"), d["validation"], rng, prompt, response)
    out = os.path.join(work, "run")
    cmd = [os.path.abspath(args.bin), "run", *silos,
           "--validation", os.path.join(work, "validation.jsonl"), "--anchor", os.path.join(work, "anchor.jsonl"),
           "--out", out, "--overwrite", "--compare.rows", "none", "--progress", "1e9",
           "--threads", str(run["threads"]), "--device", run["device"],
           "--model.vocab", str(m["vocab"]), "--model.d_model", str(m["d_model"]), "--model.layers", str(m["layers"]),
           "--model.heads", str(m["heads"]), "--model.hidden", str(m["hidden"]),
           "--model.lora_rank", str(m["lora_rank"]), "--model.lora_alpha", str(m.get("lora_alpha", 16)),
           "--model.attention", m.get("attention", "sdpa"), "--model.dtype", run["dtype"],
           "--model.max_seq_len", str(d["seq_len"]),
           "--score.engine", sc["engine"], "--score.precondition", "adam" if sc["adam"] else "sgd",
           "--score.batch_size", str(sc["batch"]),
           "--train.rounds", str(args.rounds), "--train.local_steps", str(args.local_steps),
           "--train.batch_size", str(sc["batch"])]
    launch = bench.launch_command(argparse.Namespace(mpirun=args.mpirun, launch_single=True), n, cmd)
    proc, wall = bench.run_launched(launch, run["threads"], args.timeout, "end_to_end")
    report_path = os.path.join(out, "report.json")
    if proc.returncode != 0 or not os.path.exists(report_path):
        sys.exit(f"end_to_end: clues run failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    with open(report_path) as f:
        rep = json.load(f)
    if not args.keep:
        subprocess.run(["rm", "-rf", work])

    t, cs, cb = rep["timings_s"], rep.get("communication_s", {}), rep.get("communication_bytes", {})
    order = ("load", "pretrain", "warmup", "scoring", "selection", "comparison", "final model", "output")
    names = [p for p in order if p in t] + sorted(p for p in t if p not in order and p != "total")
    phases = {p: {"seconds": t[p], "communication_s": cs.get(p), "communication_bytes": cb.get(p)} for p in names}
    samples_total = per_silo * n
    scored = samples_total * rep["checkpoints"]  # each sample is scored at every checkpoint
    fps = bench.flops_per_sample(w)
    system = bench.system_record(argparse.Namespace(build=args.build), launch, [])
    record = {
        "schema": bench.SCHEMA, "record": "end_to_end", "run_id": uuid.uuid4().hex[:12],
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "workload": w["name"], "workload_version": w["version"], "workload_file": w["_path"], "overrides": args.set,
        "mode": args.mode, "ranks": n, "threads_per_rank": run["threads"], "dtype": run["dtype"],
        "device": run["device"], "engine": sc["engine"], "adam": sc["adam"], "tag": args.tag,
        "rounds": args.rounds, "local_steps": args.local_steps, "samples_total": samples_total,
        "samples_per_silo": per_silo, "phases": phases, "total_s": t.get("total"), "wall_s": wall,
        "scored_samples_per_s_total": scored / t["scoring"] if t.get("scoring") else None,
        "scoring_tflops_per_rank": fps * scored / t["scoring"] / n / 1e12 if t.get("scoring") else None,
        "peak_rss_mib": rep.get("peak_rss_mib"), "truncated_samples": rep.get("truncated_samples"),
        "verification": {"status": "not-verified",
                         "why": "training amplifies rounding; bench.py verifies the scoring of a fixed model"},
        "command": " ".join(shlex.quote(a) for a in launch), "system": system,
    }
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")

    cpu = system["cpu"]
    print(f"# clues end to end: workload {w['name']} v{w['version']} ({args.mode}, {n} rank(s) x {run['threads']} "
          f"thread(s), {samples_total} samples, {args.rounds} rounds of {args.local_steps} steps, {sc['engine']}"
          f"{' +Adam' if sc['adam'] else ''}, {run['dtype']}, {run['device']}) on {cpu['model']}")
    print(f"# {'phase':<12} {'seconds':>9} {'comm_s':>8} {'comm_MB':>9}")
    for p, v in phases.items():
        c = v["communication_s"]
        b = v["communication_bytes"]
        print(f"  {p:<12} {v['seconds']:>9.3f} {c if c is None else f'{c:.3f}':>8} "
              f"{b if b is None else f'{b / 1e6:.2f}':>9}")
    print(f"  {'total':<12} {t['total']:>9.3f}")
    if record["scored_samples_per_s_total"]:
        print(f"# scoring: {record['scored_samples_per_s_total']:.2f} scored samples/s in all "
              f"({samples_total} samples x {rep['checkpoints']} checkpoints), "
              f"{record['scoring_tflops_per_rank']:.4f} TFLOP/s per rank (validation and anchors not counted)")
    rss = rep.get("peak_rss_mib") or {}
    print(f"# peak RSS per rank (MiB): max {rss.get('max', -1):.0f}, min {rss.get('min', -1):.0f}")
    print("# not verified: end-to-end figures include training, whose rounding differs between machines")
    if args.out:
        print(f"# record appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
