#!/usr/bin/python3
"""ctest bench.suite: the benchmark suite end to end on the tiny workload.

    bench_suite_test.py PATH/TO/clues-bench-score MPIEXEC [PATH/TO/clues]

Runs benchmarks/bench.py on 1 rank and on 2 ranks (weak and strong), checks the JSON lines
(fields, the system record, one iteration record per rank and iteration, verification ok
with #wrong 0), runs benchmarks/summarize.py on them (Markdown, CSV, PNG), and checks that
a tampered reference, a different seed and a missing reference make the driver exit
non-zero, that the workloads' stored memory estimates match the formula, that a GPU
workload is skipped without a GPU, and that slurm/bench_sweep.sbatch runs through the Slurm
stand-ins (tests/slurm_standin); with clues given, benchmarks/end_to_end.py on tiny at 2 ranks
(phases, communication, memory, marked not verified)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "benchmarks"))
import bench  # noqa: E402  (the driver's memory formula)

failures = []


def check(what, ok, detail=""):
    print(("ok: " if ok else "FAILED: ") + what + (f" ({detail})" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def run(args, env=None):
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    return r.returncode, r.stdout + r.stderr


def main():
    binary, mpiexec = os.path.abspath(sys.argv[1]), sys.argv[2]
    clues = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
    work = tempfile.mkdtemp(prefix="bench-suite-")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    driver = ["/usr/bin/python3", os.path.join(SRC, "benchmarks", "bench.py")]
    mpirun = f"{mpiexec} --oversubscribe --allow-run-as-root -np {{n}}"
    out = os.path.join(work, "results.jsonl")
    try:
        # The workload files: versioned, and their memory estimates as the formula gives.
        for p in sorted(glob.glob(os.path.join(SRC, "benchmarks", "workloads", "*.json"))):
            w = json.load(open(p))
            est = round(bench.memory_estimate(w)["total"] / 2**20)
            check(f"{os.path.basename(p)}: version and memory estimate",
                  isinstance(w.get("version"), int) and w.get("expected_memory_per_rank_mib") == est,
                  f"stored {w.get('expected_memory_per_rank_mib')} MiB, formula {est} MiB")

        runs = [("1 rank", ["--ranks", "1"]), ("2 ranks weak", ["--ranks", "2"]),
                ("2 ranks strong", ["--ranks", "2", "--mode", "strong"])]
        for what, extra in runs:
            rc, text = run(driver + ["tiny", "--bin", binary, "--out", out, "--mpirun", mpirun] + extra, env)
            check(f"bench.py tiny, {what}: exit 0", rc == 0, text[-3000:])
            check(f"bench.py tiny, {what}: table says verification ok", "verification: ok, #wrong 0" in text, text[-1500:])
        recs = [json.loads(l) for l in open(out)]
        summaries = [r for r in recs if r["record"] == "summary"]
        iters = [r for r in recs if r["record"] == "iteration"]
        check("3 summary records", len(summaries) == 3, len(summaries))
        w = json.load(open(os.path.join(SRC, "benchmarks", "workloads", "tiny.json")))
        n_it = w["run"]["iterations"]
        check("one iteration record per rank and timed iteration", len(iters) == (1 + 2 + 2) * n_it, len(iters))
        for s in summaries:
            label = f"summary {s['mode']} {s['ranks']} rank(s)"
            for k in ("figure_of_merit", "samples_per_s_per_rank", "tokens_per_s_total", "tflops_per_rank",
                      "peak_rss_kib_per_rank", "memory_estimate_bytes", "verification", "system", "workload_version",
                      "flops_per_sample", "score_s_per_rank", "validation_s_per_rank"):
                check(f"{label}: field {k}", k in s)
            v = s["verification"]
            check(f"{label}: verification ok, #wrong 0", v["status"] == "ok" and v["wrong"] == 0, v)
            check(f"{label}: checks were made", len(v["checks"]) >= 6, len(v["checks"]))
            fom = s["figure_of_merit"]
            check(f"{label}: figure of merit positive", fom["total"] > 0 and fom["per_rank_median"] > 0, fom)
            sp = s["samples_per_s_per_rank"]
            check(f"{label}: min <= median <= max", sp["min"] <= sp["median"] <= sp["max"], sp)
            check(f"{label}: peak RSS per rank measured", len(s["peak_rss_kib_per_rank"]) == s["ranks"]
                  and all(k > 10000 for k in s["peak_rss_kib_per_rank"]), s["peak_rss_kib_per_rank"])
            sysrec = s["system"]
            for k in ("hosts", "cpu", "mpi", "libtorch", "clues_commit", "clues_dirty", "build_type", "launch",
                      "rank_layout"):
                check(f"{label}: system record has {k}", sysrec.get(k) is not None, sysrec.get(k))
            check(f"{label}: cpu model", bool(sysrec["cpu"].get("model")))
            check(f"{label}: LibTorch version", bool(sysrec["libtorch"].get("torch")), sysrec["libtorch"])
            check(f"{label}: rank layout has every rank", sorted(r["rank"] for r in sysrec["rank_layout"])
                  == list(range(s["ranks"])))
            if s["ranks"] == 2:
                check(f"{label}: launched through mpiexec", os.path.basename(mpiexec) in " ".join(sysrec["launch"]))
        strong = [s for s in summaries if s["mode"] == "strong"][0]
        check("strong: the samples are split over the ranks",
              strong["samples_per_rank"] == [w["data"]["samples_per_rank"] // 2] * 2, strong["samples_per_rank"])
        check("every record carries the system record", all("system" in r for r in recs))

        # summarize: Markdown, CSV, PNG.
        md, csvf, plots = (os.path.join(work, x) for x in ("s.md", "s.csv", "plots"))
        rc, text = run(["/usr/bin/python3", os.path.join(SRC, "benchmarks", "summarize.py"), out,
                        "--md", md, "--csv", csvf, "--plots", plots])
        check("summarize.py: exit 0", rc == 0, text[-2000:])
        if rc == 0:
            import csv
            rows = list(csv.DictReader(open(csvf)))
            keys = sorted((r["mode"], r["ranks"]) for r in rows)
            check("summarize.py: weak and strong rows at 1 and 2 ranks",
                  keys == [("strong", "1"), ("strong", "2"), ("weak", "1"), ("weak", "2")], keys)
            check("summarize.py: efficiencies are numbers, 1.0 at 1 rank",
                  all(float(r["efficiency"]) > 0 for r in rows)
                  and all(abs(float(r["efficiency"]) - 1) < 1e-12 for r in rows if r["ranks"] == "1"), rows)
            check("summarize.py: Markdown table", open(md).read().startswith("| workload |"))
            pngs = glob.glob(os.path.join(plots, "*.png"))
            check("summarize.py: a PNG per mode", len(pngs) == 2 and
                  all(open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n" for p in pngs), pngs)

        # A tampered reference, a different seed and a missing reference must fail.
        ref = json.load(open(os.path.join(SRC, "benchmarks", "references", "tiny.json")))
        bad = dict(ref, scores=dict(ref["scores"], l2=ref["scores"]["l2"] * (1 + 10 * ref["tolerance"])))
        badp = os.path.join(work, "tampered.json")
        json.dump(bad, open(badp, "w"))
        out2 = os.path.join(work, "tampered.jsonl")
        rc, text = run(driver + ["tiny", "--bin", binary, "--reference", badp, "--out", out2,
                                 "--iterations", "1", "--warmup", "0"], env)
        check("tampered reference: exit 1", rc == 1, f"exit {rc}: {text[-1500:]}")
        check("tampered reference: the table names the wrong check", "wrong: rank 0 l2" in text, text[-1500:])
        s = [json.loads(l) for l in open(out2)][-1]
        check("tampered reference: summary says wrong", s["verification"]["status"] == "wrong"
              and s["verification"]["wrong"] == 1, s["verification"]["wrong"])
        rc, text = run(driver + ["tiny", "--bin", binary, "--set", "data.seed=1", "--iterations", "1", "--warmup", "0"],
                       env)
        check("another seed: exit 1 (verification fails)", rc == 1 and "verification: wrong" in text, text[-1500:])
        rc, text = run(driver + ["tiny", "--bin", binary, "--set", "score.engine=loop", "--iterations", "1",
                                 "--warmup", "0"], env)
        check("the loop engine on the same model: verification ok (rounding only)", rc == 0, text[-1500:])
        rc, text = run(driver + ["tiny", "--bin", binary, "--reference", os.path.join(work, "none.json"),
                                 "--iterations", "1", "--warmup", "0"], env)
        check("missing reference: exit 3", rc == 3, f"exit {rc}")
        rc, text = run(driver + ["tiny", "--bin", binary, "--iterations", "1", "--warmup", "0", "--min-fom", "1e12"], env)
        check("--min-fom above the figure of merit: exit 4", rc == 4 and "gate:" in text, f"exit {rc}")

        # A GPU workload on a machine without one: skipped, with a message.
        if shutil.which("nvidia-smi") is None:
            rc, text = run(driver + ["llama-7b", "--bin", binary])
            check("llama-7b without a GPU: skipped, exit 0", rc == 0 and "skipped" in text and "cuda" in text, text)

        # The sweep script through the Slurm stand-ins: 1 node x 2 ranks, weak, tiny.
        senv = dict(env, PATH=os.path.join(SRC, "tests", "slurm_standin") + os.pathsep + env["PATH"],
                    MPIRUN=mpiexec, BENCH_SRC=SRC, BENCH_WORKLOAD="tiny", BENCH_MODES="weak", BENCH_OUT=os.path.join(work, "sweep.jsonl"),
                    BENCH_EXTRA=f"--bin {binary}")
        r = subprocess.run(["sbatch", "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1",
                            os.path.join(SRC, "slurm", "bench_sweep.sbatch")], capture_output=True, text=True,
                           env=senv, cwd=work)
        check("slurm/bench_sweep.sbatch through the stand-ins: exit 0", r.returncode == 0, (r.stdout + r.stderr)[-2000:])
        if r.returncode == 0:
            s = [json.loads(l) for l in open(os.path.join(work, "sweep.jsonl")) if '"summary"' in l]
            check("sweep: one verified 2-rank summary", len(s) == 1 and s[0]["ranks"] == 2
                  and s[0]["verification"]["wrong"] == 0, len(s))
            check("sweep: summarize wrote its table", os.path.exists(os.path.join(work, "sweep.md")))

        # The end-to-end driver: clues run on tiny's shape, 2 ranks; phases with communication.
        if clues:
            e2e = os.path.join(work, "e2e.jsonl")
            rc, text = run(["/usr/bin/python3", os.path.join(SRC, "benchmarks", "end_to_end.py"), "tiny", "--ranks", "2",
                            "--bin", clues, "--out", e2e, "--mpirun", mpirun, "--rounds", "2", "--local-steps", "2"], env)
            check("end_to_end.py tiny, 2 ranks: exit 0", rc == 0, text[-3000:])
            recs = [json.loads(l) for l in open(e2e)] if os.path.exists(e2e) else []
            r = recs[0] if len(recs) == 1 else {}
            ph = r.get("phases", {})
            check("end_to_end: one record, phases warmup/scoring/selection timed",
                  all(ph.get(p, {}).get("seconds", -1) >= 0 for p in ("warmup", "scoring", "selection")), r)
            # Two warm-up rounds average [theta | m | v] of P floats over 2 ranks: more than 2*3*4*P bytes.
            check("end_to_end: warm-up communication counted",
                  (ph.get("warmup", {}).get("communication_bytes") or 0) > 0
                  and (ph.get("warmup", {}).get("communication_s") or 0) > 0, ph.get("warmup"))
            check("end_to_end: samples, memory, not verified, system record",
                  r.get("samples_total") == 64 and (r.get("peak_rss_mib") or {}).get("min", 0) > 50
                  and r.get("verification", {}).get("status") == "not-verified" and "cpu" in r.get("system", {}), r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
