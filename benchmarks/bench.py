#!/usr/bin/python3
"""The clues benchmark suite's driver: one named, versioned workload, run, timed, verified.

    benchmarks/bench.py WORKLOAD [--ranks N] [--mode weak|strong] [--out results.jsonl]
                        [--mpirun 'mpirun -np {n}'] [--peak-tflops X] [--reference FILE]

WORKLOAD is a name in benchmarks/workloads/ (tiny, small, ...) or a path to such a file.
The driver runs build/bin/clues-bench-score with the workload's flags, on N ranks through
the launcher (each rank one independent process; N = 1 runs without a launcher), with the
workload's warm-up iterations untimed and its timed iterations reported one by one. Each rank
runs under this script (--rank-child), which records its host, CPU affinity, exit status and
peak resident memory (VmHWM as clues-bench-score reads it, and getrusage of the child).

Weak scaling (default): every rank scores the workload's samples_per_rank samples (the same
seeded samples on every rank). Strong scaling: the workload's samples_per_rank samples in
all, split into N equal slices (--shard r/N); the slices' checksums add up to the whole one's.

Verification: the scores of a fixed, seeded model and data are compared with
benchmarks/references/<workload>.json (sum, sum of |score|, L2 norm, the first scores) within
the reference's relative tolerance; every failed check counts in `wrong` (as nccl-tests'
#wrong) and the driver exits 1. A missing reference exits 3 (--allow-unverified reports
anyway); with --min-fom X a verified run below X total samples/s exits 4 (a gate, as
nccl-tests' minimum bandwidth). A workload for a device this machine lacks (cuda without nvidia-smi) is skipped
with a message, exit 0.

Output: JSON lines (--out, appended): one `iteration` record per rank and timed iteration
and one `summary` record per run, each with the system record; a table on stdout. Python 3
standard library only (run with /usr/bin/python3). docs/benchmarks.md describes the suite.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = os.path.join(SRC, "benchmarks", "workloads")
REFERENCES = os.path.join(SRC, "benchmarks", "references")
SCHEMA = 1  # of the records below

# Peak dense TFLOP/s per device by compute dtype (vendor data sheets, dense, no sparsity;
# SXM parts). float32 on NVIDIA GPUs is the non-tensor-core rate (LibTorch keeps TF32 off
# for float32 matmuls by default). CPUs are estimated from lscpu instead (cpu_peak_tflops).
GPU_PEAKS = {
    "H200": {"bfloat16": 989.0, "float32": 67.0},
    "H100": {"bfloat16": 989.0, "float32": 67.0},
    "A100": {"bfloat16": 312.0, "float32": 19.5},
    "L40S": {"bfloat16": 362.0, "float32": 91.6},
    "V100": {"bfloat16": None, "float32": 15.7},
}

DTYPE_BYTES = {"float32": 4, "bfloat16": 2}
RUNTIME_BYTES = 390 * 2**20  # a LibTorch process's resident memory beside the model (tiny: 394 MiB in all)


# ---------------------------------------------------------------------------- workloads

def load_workload(spec):
    path = spec if (os.sep in spec or spec.endswith(".json")) else os.path.join(WORKLOADS, spec + ".json")
    if not os.path.isfile(path):
        names = sorted(f[:-5] for f in os.listdir(WORKLOADS) if f.endswith(".json"))
        sys.exit(f"bench: no workload '{spec}' (known: {', '.join(names)})")
    with open(path) as f:
        w = json.load(f)
    for key in ("name", "version", "model", "data", "score", "run"):
        if key not in w:
            sys.exit(f"bench: workload {path} has no '{key}'")
    w["_path"] = os.path.relpath(path, SRC)
    return w


def apply_override(w, text):
    """--set section.key=value (a JSON value, or a string)."""
    key, _, value = text.partition("=")
    section, _, field = key.partition(".")
    if not field or section not in w or not isinstance(w[section], dict) or field not in w[section]:
        sys.exit(f"bench: --set {text}: no field {key} in the workload")
    try:
        w[section][field] = json.loads(value)
    except json.JSONDecodeError:
        w[section][field] = value


def shape(w):
    m = w["model"]
    d, L, h = m["d_model"], m["layers"], m["heads"]
    kv = m.get("kv_heads") or h
    hd = d // h
    attn = d * h * hd + 2 * d * kv * hd + h * hd * d  # q, k, v, o
    mlp = 3 * d * m["hidden"]  # gate, up, down
    dense = L * (attn + mlp) + m["vocab"] * d  # the blocks and the output head
    total = dense + m["vocab"] * d + (2 * L + 1) * d  # + the token embedding and the norms (+ LoRA below)
    # LoRA on q and v (clues-bench-score's targets): A [r, d] and B [out, r], out = heads·hd or kv·hd.
    lora = L * m["lora_rank"] * ((d + h * hd) + (d + kv * hd))
    return {"dense_params": dense, "model_params": total + lora, "trainable_params": lora}


def flops_per_sample(w, convention="lora"):
    """FLOPs of one scored sample (forward + backward over its T tokens), counted from the
    shape. N: the dense weights the tokens pass through (blocks and output head, not the
    embedding lookup); P: the LoRA weights; attention: 12·layers·d_model·T² (QKᵀ and AV,
    forward and backward, no saving for the causal mask).
      lora (reported): 4·N·T + 6·P·T + attention. The base weights are frozen, so the
          backward computes input gradients (2·N·T) but no weight gradients; the adapters
          get all three products (6·P·T; the per-sample gradients are these products kept
          per sample).
      6n (the MFU convention of training, PaLM's appendix B): 6·N·T + attention, as if
          every weight were trained; 1.5x the dense part above."""
    m, T = w["model"], w["data"]["seq_len"]
    s = shape(w)
    attention = 12 * m["layers"] * m["d_model"] * T * T
    if convention == "6n":
        return 6 * s["dense_params"] * T + attention
    return 4 * s["dense_params"] * T + 6 * s["trainable_params"] * T + attention


def memory_estimate(w):
    """Expected memory per rank in bytes (host RAM on cpu, GPU memory on cuda): the weights,
    one batch's activations kept for the backward, the logits, the per-sample gradients of
    a batch and the process's runtime. Rough by design: docs/benchmarks.md compares it with
    the measured peak RSS."""
    m, dt, run = w["model"], w["data"], w["run"]
    s = shape(w)
    bw = DTYPE_BYTES[run["dtype"]]
    cpu = run["device"] == "cpu"
    # The model is built in float32 on the host, then cast (and moved): on cpu with bfloat16
    # both copies are alive at the cast.
    weights = s["model_params"] * (4 + (bw if bw != 4 else 0) if cpu else bw)
    b = w["score"]["batch"]  # the validation gradient goes in chunks of the same batch
    T, d, L = dt["seq_len"], m["d_model"], m["layers"]
    tokens = b * T
    per_layer = tokens * (16 * d + 4 * m["hidden"]) * bw + b * m["heads"] * T * T * 4
    activations = L * per_layer
    logits = tokens * m["vocab"] * 4 * 3  # float32 logits, log-softmax, its gradient
    P = s["trainable_params"]
    adam = w["score"]["adam"]
    engine = w["score"]["engine"]
    grads = {"batched": b * P * 4 * (2 if adam else 1), "ghost": 0, "loop": P * 4 * 2}[engine]
    state = P * 4 * (3 if adam else 1)  # the target and Adam's m and v
    runtime = RUNTIME_BYTES if cpu else 600 * 2**20  # CUDA context and LibTorch's workspace
    parts = {"weights": weights, "activations": activations, "logits": logits, "per_sample_grads": grads,
             "target_and_adam_state": state, "runtime": runtime}
    parts["total"] = sum(parts.values())
    return parts


def bench_args(w, iterations, warmup, shard):
    m, d, sc, run = w["model"], w["data"], w["score"], w["run"]
    a = ["--vocab", m["vocab"], "--d-model", m["d_model"], "--layers", m["layers"], "--heads", m["heads"],
         "--kv-heads", m.get("kv_heads", 0), "--hidden", m["hidden"], "--lora-rank", m["lora_rank"],
         "--lora-alpha", m.get("lora_alpha", 16), "--attention", m.get("attention", "sdpa"),
         "--seq-len", d["seq_len"], "--prompt-len", d["prompt_len"], "--samples", d["samples_per_rank"],
         "--validation", d["validation"], "--seed", d["seed"], "--batch", sc["batch"], "--engine", sc["engine"],
         "--dtype", run["dtype"], "--device", run["device"], "--threads", run["threads"],
         "--warmup", warmup, "--iterations", iterations, "--shard", shard, "--first", 8]
    if sc["adam"]:
        a.append("--adam")
    if not run.get("train_step", False):
        a.append("--no-train-step")
    return [str(x) for x in a]


# ---------------------------------------------------------------------------- system record

def sh(cmd, timeout=20):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.stdout if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def lscpu():
    out = sh(["lscpu"]) or ""
    info = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    flags = set(info.get("Flags", "").split())
    simd = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile",
                        "sve", "asimd") if f in flags]
    mhz = info.get("CPU max MHz") or None
    if not mhz and info.get("BogoMIPS") and "x86" in platform.machine():
        mhz = str(float(info["BogoMIPS"]) / 2)  # x86 BogoMIPS is twice the (nominal) clock
    return {"model": info.get("Model name"), "architecture": info.get("Architecture"),
            "sockets": info.get("Socket(s)"), "cores_per_socket": info.get("Core(s) per socket"),
            "threads_per_core": info.get("Thread(s) per core"), "cpus": info.get("CPU(s)"),
            "mhz": mhz, "mhz_source": "CPU max MHz" if info.get("CPU max MHz") else ("BogoMIPS/2" if mhz else None),
            "simd": simd, "hypervisor": info.get("Hypervisor vendor")}


def cpu_peak_tflops(cpu, threads, dtype):
    """Peak float32 TFLOP/s of `threads` cores: GHz × FLOPs per cycle (two FMA pipes of the
    widest vector unit: 64 with AVX-512, 32 with AVX2+FMA, 16 with AVX, 8 else). bfloat16
    on a CPU without AMX/AVX512_BF16 runs at the float32 rate at best."""
    if not cpu.get("mhz"):
        return None
    simd = cpu["simd"]
    per_cycle = 64 if "avx512f" in simd else 32 if ("avx2" in simd and "fma" in simd) else 16 if "avx" in simd else 8
    if dtype == "bfloat16" and "amx_bf16" in simd:
        per_cycle = 1024  # AMX: 1024 bf16 FLOPs/cycle/core
    return threads * float(cpu["mhz"]) * 1e6 * per_cycle / 1e12


def gpus():
    out = sh(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    if out is None:
        return None
    return [dict(zip(("name", "driver", "memory"), (x.strip() for x in line.split(","))))
            for line in out.strip().splitlines()]


def cmake_cache(build):
    vals = {}
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"^([A-Za-z_]+):[A-Z]+=(.*)$", line.strip())
                if m:
                    vals[m.group(1)] = m.group(2)
    except OSError:
        pass
    return vals


def torch_versions(cache, have_gpu):
    """LibTorch version from the torch environment (scripts/torch_env.sh); NCCL's only where a
    GPU is (importing torch takes seconds)."""
    out = sh(["bash", "-c", f"cd {shlex.quote(SRC)} && source scripts/torch_env.sh && echo $CLUES_PYTHON"])
    py = out.strip() if out else cache.get("CLUES_PYTHON")
    ver = {"python": py, "libtorch_pinned": cache.get("CLUES_TORCH_VERSION"), "torch": None, "cuda": None,
           "nccl": None}
    if py and os.path.exists(py):
        if have_gpu:
            out = sh([py, "-c", "import torch; print(torch.__version__, torch.version.cuda, "
                      "'.'.join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else None)"], 120)
            if out:
                ver["torch"], ver["cuda"], ver["nccl"] = (x if x != "None" else None for x in out.split())
        else:
            out = sh([py, "-c", "import importlib.util as u, runpy; s = u.find_spec('torch'); "
                      "import os; v = runpy.run_path(os.path.join(os.path.dirname(s.origin), 'version.py')); "
                      "print(v['__version__'], v['cuda'])"])
            if out:
                ver["torch"], ver["cuda"] = (x if x != "None" else None for x in out.split())
    return ver


def system_record(args, launch, layout):
    cache = cmake_cache(args.build)
    g = gpus()
    git = lambda *a: (sh(["git", "-C", SRC] + list(a)) or "").strip() or None
    launcher = launch[0] if launch else None
    mpi = None
    if launcher:
        out = sh([launcher, "--version"])
        mpi = out.strip().splitlines()[0] if out else None
    return {
        "hosts": sorted({r["host"] for r in layout}) if layout else [socket.gethostname()],
        "cpu": lscpu(), "gpus": g, "kernel": platform.release(), "mpi": mpi,
        "libtorch": torch_versions(cache, bool(g)),
        "clues_commit": git("rev-parse", "HEAD"), "clues_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "build_type": cache.get("CMAKE_BUILD_TYPE"), "compiler": cache.get("CMAKE_CXX_COMPILER"),
        "launch": launch, "driver_argv": sys.argv,
        "rank_layout": [{k: r.get(k) for k in ("rank", "host", "cpus", "pid")} for r in layout],
    }


# ---------------------------------------------------------------------------- one rank

RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID")


def rank_child(argv):
    """Runs one rank's clues-bench-score ('{rank}' in its arguments becomes the rank) and
    writes DIR/rank<r>.json. argv: DIR BIN ARGS..."""
    folder, binary, rest = argv[0], argv[1], argv[2:]
    rank = next((int(os.environ[v]) for v in RANK_VARS if v in os.environ), 0)
    cmd = [binary] + [a.replace("{rank}", str(rank)) for a in rest]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    rec = {"rank": rank, "host": socket.gethostname(), "pid": os.getpid(),
           "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "rc": r.returncode, "wall_s": wall, "ru_maxrss_kib": usage.ru_maxrss, "command": cmd,
           "result": json.loads(lines[-1]) if lines else None, "stderr_tail": r.stderr[-2000:]}
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as f:
        json.dump(rec, f)
    return r.returncode


# ---------------------------------------------------------------------------- verification

def load_reference(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def verify(ref, w, mode, results):
    """Checks against the reference; returns (checks, wrong). Every quantity's error is
    relative to the scores' own scale (sum of |score|, L2, RMS), so a sum that cancels to
    near zero does not make the check stricter than rounding allows."""
    tol = ref["tolerance"]
    r = ref["scores"]
    checks = []

    def check(name, got, want, scale):
        err = abs(got - want) / scale if scale > 0 else (0.0 if got == want else float("inf"))
        checks.append({"check": name, "got": got, "want": want, "rel_error": err, "tolerance": tol, "ok": err <= tol})

    def count(name, got, want):
        checks.append({"check": name, "got": got, "want": want, "ok": got == want})

    for k in ("workload_version", "seed", "samples"):
        want = {"workload_version": w["version"], "seed": w["data"]["seed"], "samples": w["data"]["samples_per_rank"]}[k]
        if ref.get(k) != want:
            checks.append({"check": f"reference {k}", "got": want, "want": ref.get(k), "ok": False})
    rms = r["l2"] / max(r["count"], 1) ** 0.5

    def check_set(label, s, first):
        count(f"{label}count", s["count"], r["count"])
        count(f"{label}nonfinite", s["nonfinite"], 0)
        check(f"{label}sum", s["sum"], r["sum"], r["abs_sum"])
        check(f"{label}abs_sum", s["abs_sum"], r["abs_sum"], r["abs_sum"])
        check(f"{label}l2", s["l2"], r["l2"], r["l2"])
        n = min(len(first), len(r["first"]))
        count(f"{label}first (how many)", n, min(len(r["first"]), r["count"] if mode == "weak" else n))
        if n:
            err = max(abs(a - b) for a, b in zip(first[:n], r["first"][:n])) / rms
            checks.append({"check": f"{label}first {n} scores", "rel_error": err, "tolerance": tol, "ok": err <= tol,
                           "got": first[:n], "want": r["first"][:n]})

    def of(res):
        return {"count": res["score_count"], "nonfinite": res["score_nonfinite"], "sum": res["score_sum"],
                "abs_sum": res["score_abs_sum"], "l2": res["score_l2"]}

    for x in results:  # repeated iterations must agree with each other too
        checks.append({"check": f"rank {x['rank']} iterations agree", "rel_error": x["result"]["iteration_score_max_rel_diff"],
                       "tolerance": tol, "ok": x["result"]["iteration_score_max_rel_diff"] <= tol})
    if mode == "weak":
        for x in results:
            check_set(f"rank {x['rank']} ", of(x["result"]), x["result"]["score_first"])
    else:  # the slices add up to the whole
        parts = [of(x["result"]) for x in results]
        whole = {"count": sum(p["count"] for p in parts), "nonfinite": sum(p["nonfinite"] for p in parts),
                 "sum": sum(p["sum"] for p in parts), "abs_sum": sum(p["abs_sum"] for p in parts),
                 "l2": sum(x["result"]["score_sq_sum"] for x in results) ** 0.5}
        first = []
        for x in sorted(results, key=lambda x: x["rank"]):
            first += x["result"]["score_first"]
            if len(x["result"]["score_first"]) < x["result"]["score_count"]:
                break
        check_set("all ranks ", whole, first)
    return checks, sum(1 for c in checks if not c["ok"])


# ---------------------------------------------------------------------------- the run

def launch_command(args, n, child):
    if n == 1 and not args.launch_single:
        return child
    tmpl = shlex.split(args.mpirun)
    if any("{n}" in t for t in tmpl):
        return [t.replace("{n}", str(n)) for t in tmpl] + child
    return tmpl + ["-np", str(n)] + child


def stats(xs):
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def run_launched(launch, threads, timeout, who):
    """Runs the launch command with `threads` LibTorch threads a rank (Open MPI allowed to
    run as root); returns (the completed process, wall seconds); exits past `timeout`."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    t0 = time.time()
    try:
        proc = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"{who}: the run took longer than --timeout {timeout} s")
    return proc, time.time() - t0


def driver_arguments(doc, binary, mpirun):
    """The arguments both drivers take (bench.py, end_to_end.py): the workload, ranks, mode,
    the records file, the launcher, the executable and the build folder."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    ap.add_argument("workload")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--mode", choices=("weak", "strong"), default="weak")
    ap.add_argument("--out", help="JSON lines file to append the records to")
    ap.add_argument("--mpirun", default=os.environ.get("CLUES_BENCH_MPIRUN", mpirun),
                    help="launcher; {n} becomes the rank count, else '-np N' is appended (default: %(default)s)")
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "bin", binary))
    ap.add_argument("--build", default=os.path.join(SRC, "build"), help="build folder (CMakeCache.txt)")
    return ap


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--rank-child":
        sys.exit(rank_child(sys.argv[2:]))
    ap = driver_arguments(__doc__, "clues-bench-score", "mpirun -np {n}")
    ap.add_argument("--launch-single", action="store_true", help="use the launcher for 1 rank too")
    ap.add_argument("--reference", help="reference file (default benchmarks/references/<workload>.json)")
    ap.add_argument("--allow-unverified", action="store_true", help="report without a reference (exit 0)")
    ap.add_argument("--write-reference", metavar="TOL", type=float,
                    help="write the reference from this run (1 rank, weak) with relative tolerance TOL")
    ap.add_argument("--peak-tflops", type=float, help="peak TFLOP/s per rank (default: from the tables)")
    ap.add_argument("--iterations", type=int, help="timed iterations (default: the workload's)")
    ap.add_argument("--warmup", type=int, help="warm-up iterations (default: the workload's)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="change a workload field (the records say so; the reference no longer applies)")
    ap.add_argument("--estimate", action="store_true", help="print the memory estimate and FLOPs, run nothing")
    ap.add_argument("--min-fom", type=float, metavar="X",
                    help="gate: exit 4 when the total figure of merit (scored samples/s) is below X")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--tag", default="", help="free text stored in the records")
    args = ap.parse_args()

    w = load_workload(args.workload)
    for s in args.set:
        apply_override(w, s)
    mem = memory_estimate(w)
    if args.estimate:
        print(json.dumps({"workload": w["name"], "version": w["version"], **shape(w),
                          "flops_per_sample": flops_per_sample(w), "flops_per_sample_6n": flops_per_sample(w, "6n"),
                          "memory_per_rank_bytes": mem}, indent=1))
        return 0
    n = args.ranks
    device = w["run"]["device"]
    if device == "cuda" and gpus() is None:
        msg = (f"bench: skipped: workload {w['name']} needs device cuda (a GPU; expected "
               f"{mem['total'] / 2**30:.1f} GiB per rank) and this machine has none (no nvidia-smi)")
        print(msg)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps({"record": "skipped", "schema": SCHEMA, "workload": w["name"],
                                    "workload_version": w["version"], "reason": msg, "host": socket.gethostname(),
                                    "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat()}) + "\n")
        return 0
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"bench: no {args.bin}: build first (scripts/build.sh)")
    per_rank = w["data"]["samples_per_rank"]
    if args.mode == "strong" and per_rank % n:
        sys.exit(f"bench: strong scaling splits {per_rank} samples evenly; {n} ranks do not divide it")
    if args.write_reference is not None and (n != 1 or args.mode != "weak" or args.set):
        sys.exit("bench: --write-reference wants 1 rank, weak mode and no --set")
    iterations = args.iterations or w["run"]["iterations"]
    warmup = w["run"]["warmup"] if args.warmup is None else args.warmup
    shard = "{rank}/%d" % n if args.mode == "strong" else "0/1"

    tmp = tempfile.mkdtemp(prefix="clues-bench-")
    child = [sys.executable, os.path.abspath(__file__), "--rank-child", tmp, os.path.abspath(args.bin)] + \
        bench_args(w, iterations, warmup, shard)
    launch = launch_command(args, n, child)
    proc, wall = run_launched(launch, w["run"]["threads"], args.timeout, "bench")
    results = []
    for r in range(n):
        p = os.path.join(tmp, f"rank{r}.json")
        if os.path.exists(p):
            with open(p) as f:
                results.append(json.load(f))
    shutil.rmtree(tmp, ignore_errors=True)
    failed = [x for x in results if x["rc"] != 0 or not x["result"]]
    if proc.returncode != 0 or len(results) != n or failed:
        detail = "".join(f"\n  rank {x['rank']} exit {x['rc']}: {x['stderr_tail'].strip()}" for x in failed)
        sys.exit(f"bench: the run failed (launcher exit {proc.returncode}, {len(results)} of {n} ranks reported)"
                 f"{detail}\n{proc.stderr[-2000:]}")
    results.sort(key=lambda x: x["rank"])
    got = results[0]["result"]
    sh_ = shape(w)
    for k in ("model_params", "trainable_params"):
        if got.get(k) != sh_[k]:
            print(f"bench: warning: the shape formula gives {k} = {sh_[k]}, clues-bench-score counts {got.get(k)}; "
                  "the FLOP and memory figures use the formula", file=sys.stderr)

    # Reference: make one, or check against the stored one.
    ref_path = args.reference or os.path.join(REFERENCES, w["name"] + ".json")
    if args.write_reference is not None:
        res = results[0]["result"]
        ref = {"workload": w["name"], "workload_version": w["version"], "seed": w["data"]["seed"],
               "samples": per_rank, "tolerance": args.write_reference,
               "scores": {"count": res["score_count"], "sum": res["score_sum"], "abs_sum": res["score_abs_sum"],
                          "l2": res["score_l2"], "first": res["score_first"]},
               "made_on": {"cpu": lscpu()["model"], "commit": (sh(["git", "-C", SRC, "rev-parse", "HEAD"]) or "").strip(),
                           "command": " ".join(shlex.quote(a) for a in sys.argv),
                           "date_utc": datetime.datetime.now(datetime.timezone.utc).date().isoformat()}}
        os.makedirs(os.path.dirname(os.path.abspath(ref_path)), exist_ok=True)
        with open(ref_path, "w") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
        print(f"bench: wrote {os.path.relpath(ref_path)}")
    ref = load_reference(ref_path)
    if ref is None:
        checks, wrong, status = [], None, "no-reference"
    else:
        checks, wrong = verify(ref, w, args.mode, results)
        status = "ok" if wrong == 0 else "wrong"

    # Figures.
    system = system_record(args, launch, results)
    cpu = system["cpu"]
    threads = w["run"]["threads"]
    peak, peak_src = args.peak_tflops, "--peak-tflops"
    if peak is None and device == "cpu":
        peak, peak_src = cpu_peak_tflops(cpu, threads, w["run"]["dtype"]), f"estimate from lscpu ({cpu['mhz_source']})"
    elif peak is None and system["gpus"]:
        name = system["gpus"][0]["name"]
        hit = next((v for k, v in GPU_PEAKS.items() if k in name), None)
        peak, peak_src = (hit or {}).get(w["run"]["dtype"]), "GPU table"
    if peak is None:
        peak_src = None
    fps, fps6 = flops_per_sample(w), flops_per_sample(w, "6n")
    T = w["data"]["seq_len"]
    run_id = uuid.uuid4().hex[:12]
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    common = {"schema": SCHEMA, "run_id": run_id, "time_utc": now, "workload": w["name"],
              "workload_version": w["version"], "workload_file": w["_path"], "overrides": args.set,
              "mode": args.mode, "ranks": n, "threads_per_rank": threads, "dtype": w["run"]["dtype"],
              "device": device, "engine": w["score"]["engine"], "adam": w["score"]["adam"], "tag": args.tag}
    records, per_rank_rates, rows = [], [], []
    for x in results:
        res = x["result"]
        ns = res["score_count"]
        for i, (ts, tv) in enumerate(zip(res["iteration_score_seconds"], res["iteration_validation_seconds"])):
            tfl = fps * ns / ts / 1e12
            rec = dict(common, record="iteration", rank=x["rank"], host=x["host"], iteration=i, samples=ns,
                       score_s=ts, validation_s=tv, samples_per_s=ns / ts, tokens_per_s=ns * T / ts,
                       tflops=tfl, tflops_6n=fps6 * ns / ts / 1e12, share_of_peak=tfl / peak if peak else None,
                       system=system)
            records.append(rec)
            rows.append(rec)
        per_rank_rates.append([ns / t for t in res["iteration_score_seconds"]])
    all_rates = [r for rr in per_rank_rates for r in rr]
    medians = [statistics.median(rr) for rr in per_rank_rates]
    samples_total = sum(x["result"]["score_count"] for x in results)
    slowest = max(statistics.median(x["result"]["iteration_score_seconds"]) for x in results)
    total_rate = samples_total / slowest
    tflops = [fps * r / 1e12 for r in all_rates]
    rss = [x["result"].get("peak_rss_kib", -1) for x in results]
    gpu_mib = [x["result"].get("peak_device_mib", -1) for x in results]  # the CUDA allocator's peak; -1 on cpu
    summary = dict(
        common, record="summary",
        figure_of_merit={"name": "scored samples/s", "per_rank_median": statistics.median(medians),
                         "total": total_rate},
        samples_per_s_per_rank=stats(all_rates), samples_per_s_total=total_rate,
        tokens_per_s_per_rank=stats([r * T for r in all_rates]), tokens_per_s_total=total_rate * T,
        tflops_per_rank=stats(tflops), tflops_6n_per_rank=stats([fps6 * r / 1e12 for r in all_rates]),
        peak_tflops_per_rank=peak, peak_source=peak_src,
        share_of_peak=(statistics.median(tflops) / peak) if peak else None,
        flops_per_sample=fps, flops_formula="4*N*T + 6*P*T + 12*layers*d_model*T^2 (N dense weights, P LoRA, T seq_len)",
        flops_per_sample_6n=fps6,
        samples_per_rank=[x["result"]["score_count"] for x in results], seq_len=T,
        score_s_per_rank=[stats(x["result"]["iteration_score_seconds"]) for x in results],
        validation_s_per_rank=[stats(x["result"]["iteration_validation_seconds"]) for x in results],
        score_s_slowest_rank_median=slowest,
        iterations=iterations, warmup=warmup,
        peak_rss_kib_per_rank=rss, ru_maxrss_kib_per_rank=[x["ru_maxrss_kib"] for x in results],
        peak_device_mib_per_rank=gpu_mib,
        memory_estimate_bytes=mem,
        memory_measured_vs_estimate=(max(rss) * 1024 / mem["total"]) if device == "cpu"
        else (max(gpu_mib) * 2**20 / mem["total"]) if max(gpu_mib) > 0 else None,
        train_step_ratio=[x["result"].get("ratio_vs_train_step") for x in results],
        wall_s=wall, verification={"status": status, "wrong": wrong, "reference": os.path.relpath(ref_path, SRC)
                                   if os.path.isabs(ref_path) else ref_path,
                                   "tolerance": ref["tolerance"] if ref else None, "checks": checks},
        model=shape(w), system=system)
    records.append(summary)
    if args.out:
        with open(args.out, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

    # The table.
    print(f"# clues bench: workload {w['name']} v{w['version']} ({args.mode}, {n} rank(s) x {threads} thread(s), "
          f"{w['score']['engine']}{' --adam' if w['score']['adam'] else ''}, {w['run']['dtype']}, {device}) "
          f"on {', '.join(system['hosts'])}: {cpu['model']}")
    print(f"# {'rank':>4} {'iter':>4} {'samples':>7} {'score_s':>9} {'valid_s':>8} {'samples/s':>10} "
          f"{'tokens/s':>10} {'TFLOP/s':>8} {'%peak':>6}")
    for r in rows:
        sp = f"{100 * r['share_of_peak']:6.1f}" if r["share_of_peak"] is not None else f"{'-':>6}"
        print(f"  {r['rank']:>4} {r['iteration']:>4} {r['samples']:>7} {r['score_s']:>9.4f} {r['validation_s']:>8.4f} "
              f"{r['samples_per_s']:>10.2f} {r['tokens_per_s']:>10.0f} {r['tflops']:>8.4f} {sp}")
    s = summary["samples_per_s_per_rank"]
    print(f"# samples/s per rank: min {s['min']:.2f} median {s['median']:.2f} max {s['max']:.2f}; "
          f"total {total_rate:.2f} (all samples / slowest rank's median time)")
    t = summary["tflops_per_rank"]
    print(f"# TFLOP/s per rank: median {t['median']:.4f}" +
          (f", {100 * summary['share_of_peak']:.1f}% of {peak:.3f} ({peak_src})" if peak else ", peak unknown"))
    print(f"# peak RSS per rank (MiB): {', '.join(f'{k / 1024:.0f}' for k in rss)}; "
          f"estimate {mem['total'] / 2**20:.0f} MiB" + (" (of GPU memory)" if device == "cuda" else ""))
    if max(gpu_mib) > 0:
        print(f"# peak GPU memory per rank (MiB, LibTorch's allocator): {', '.join(f'{g:.0f}' for g in gpu_mib)}")
    if ref is None:
        print(f"# verification: no reference at {ref_path}")
    else:
        print(f"# verification: {status}, #wrong {wrong} of {len(checks)} checks "
              f"(relative tolerance {ref['tolerance']:g}, reference {os.path.relpath(ref_path)})")
        for c in checks:
            if not c["ok"]:
                print(f"#   wrong: {c['check']}: got {c.get('got')} want {c.get('want')}"
                      + (f" (relative error {c['rel_error']:.3g})" if "rel_error" in c else ""))
    if args.out:
        print(f"# records appended to {args.out}")
    if ref is None and not args.allow_unverified:
        return 3
    if wrong:
        return 1
    if args.min_fom is not None and total_rate < args.min_fom:
        print(f"# gate: total {total_rate:.2f} scored samples/s is below --min-fom {args.min_fom:g}")
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
