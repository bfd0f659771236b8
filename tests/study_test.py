#!/usr/bin/env python3
"""ctest scripts.study: scripts/clues_study.py without the clues executable.

The statistics against known values (Student's t quantiles, a t-interval), the study
file's refusals, and plan / run / summarize end to end with a stand-in `clues` (a Python
script that answers --help, writes a partition manifest and a report.json whose figures
are known) and a stand-in launcher, so the summary's numbers can be checked exactly.
"""

import csv
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "clues_study.py")
spec = importlib.util.spec_from_file_location("clues_study", SCRIPT)
cs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cs)

FAKE_CLUES = r'''#!/usr/bin/env python3
import json, os, sys
a = sys.argv[1:]
if a[1:] == ["--help"]:
    if a[0] == "partition":
        print("clues partition\n  -h [ --help ]  print this help\n  --source arg   NAME=PATH\n  --silos arg   n\n"
              "  --alpha arg   a\n  --seed arg (=0)  s\n  --out arg   o\n  --test-size arg (=0)  t\n")
    else:
        print("clues run\n  -h [ --help ]  print\n  --config arg   INI\n  --resume  r\n  --silo arg  s\n  --validation arg\n"
              "  --labels arg\n  --test arg\n  --anchor arg\n  --out arg\n  --seed arg (=0)\n  --threads arg (=1)\n"
              "  --collab arg (=fedavg)\n\ntrain:\n  --train.rounds arg (=5)  rounds\n  --compare.rows arg (=all)  rows\n")
    sys.exit(0)
opts, i = {}, 1
while i < len(a):
    if i + 1 < len(a) and not a[i + 1].startswith("--"):
        opts.setdefault(a[i][2:], []).append(a[i + 1])
        i += 2
    else:
        opts.setdefault(a[i][2:], []).append(True)
        i += 1
log = os.environ.get("FAKE_LOG")
if log:
    with open(log, "a") as f:
        f.write(" ".join(a) + "\n")
out = opts["out"][0]
if a[0] == "partition":
    n = int(opts["silos"][0])
    os.makedirs(out)
    for s in opts["source"]:
        open(s.split("=")[-1]).close()  # relative to the study's folder
    json.dump({"silos": [{"name": f"silo{i}", "samples": 30} for i in range(n)],
               "clues_run_arguments": " ".join(f"--silo silo{i}=silos/silo{i}.jsonl" for i in range(n))
               + " --validation validation.jsonl"}, open(os.path.join(out, "manifest.json"), "w"))
    sys.exit(0)
if os.environ.get("FAKE_FAIL") and os.environ["FAKE_FAIL"] in out:
    print("clues: error: something went wrong"); sys.exit(1)
assert opts["resume"] == [True]
assert all(p.startswith("/") for p in (v.split("=")[-1] for v in opts["silo"])), opts["silo"]
os.makedirs(out, exist_ok=True)
seed, merge = int(opts["seed"][0]), opts.get("collab", ["fedavg"])[0] == "merge"
base = 2.0 + 0.1 * merge + 0.01 * seed
comp = {"clues": {"macro_test_loss": base, "pooled": {"auroc": 0.8 + 0.01 * seed}, "silos": {}},
        "full": {"macro_test_loss": base + 0.05 + 0.01 * seed, "pooled": {"auroc": None}, "silos": {}}}
json.dump({"selection": {"rule": "clues"}, "rank": "clues", "silos": {}, "comparison": comp,
           "timings_s": {"total": 10.0}}, open(os.path.join(out, "report.json"), "w"))
'''

FAKE_MPIRUN = r'''#!/bin/sh
# mpirun stand-in: drop --oversubscribe -np N and run the command once.
while [ $# -gt 0 ]; do
  case $1 in --oversubscribe) shift ;; -np) shift 2 ;; *) break ;; esac
done
exec "$@"
'''


def main():
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    # Student's t quantiles (two-sided 95%: the 0.975 quantile) from the standard tables.
    for df, q in ((1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (10, 2.2281), (30, 2.0423),
                  (1000, 1.9623)):
        got = cs.t_quantile(0.975, df)
        check(abs(got - q) < 1e-4, f"t quantile 0.975 df {df}: {got}, expected {q}")
    check(abs(cs.t_quantile(0.95, 5) - 2.0150) < 1e-4, "t quantile 0.95 df 5")
    check(abs(cs.t_quantile(0.025, 4) + 2.7764) < 1e-4, "lower quantile is the negative")
    # 2, 4, 6: mean 4, sd 2, half width 4.3027 * 2 / sqrt(3) = 4.9683
    m, sd, lo, hi = cs.t_interval([2.0, 4.0, 6.0])
    check(abs(m - 4) < 1e-12 and abs(sd - 2) < 1e-12 and abs(lo - (4 - 4.968275)) < 1e-5 and abs(hi - 8.968275) < 1e-5,
          f"t-interval of 2, 4, 6: {m} {sd} [{lo}, {hi}]")
    check(cs.t_interval([1.5])[2:] == (None, None), "a single value has no interval")

    with tempfile.TemporaryDirectory() as tmp:
        fake = os.path.join(tmp, "clues")
        with open(fake, "w") as f:
            f.write(FAKE_CLUES.replace("/usr/bin/env python3", sys.executable, 1))
        mpirun = os.path.join(tmp, "mpirun")
        with open(mpirun, "w") as f:
            f.write(FAKE_MPIRUN)
        os.chmod(fake, 0o755)
        os.chmod(mpirun, 0o755)
        os.makedirs(os.path.join(tmp, "data"))
        for name in ("a", "b"):
            with open(os.path.join(tmp, "data", name + ".jsonl"), "w") as f:
                f.write('{"instruction": "x", "output": "y"}\n' * 50)
        env = dict(os.environ, CLUES_BIN=fake, MPIRUN=mpirun, FAKE_LOG=os.path.join(tmp, "calls.log"))

        def study(path, text):
            with open(os.path.join(tmp, path), "w") as f:
                f.write(text)
            return os.path.join(tmp, path)

        def cli(*args, **extra):
            return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True,
                                  env=dict(env, **extra), cwd=tmp)

        good = study("good.ini", """[study]
out = out/good   ; relative to this file
ranks = 2
seeds = 0 1 2
[partition]
source = a=data/a.jsonl b=data/b.jsonl
test-size = 5
[run]
train.rounds = 2
compare.rows = clues,full
[grid]
partition.silos = 2 4
run.collab = fedavg merge
""")
        p = cli("plan", good)
        check(p.returncode == 0, "plan: exit status " + str(p.returncode) + p.stderr)
        check("12 cells" in p.stdout and "sbatch --array=0-11 --ntasks=2 slurm/clues_study.sbatch" in p.stdout,
              "plan: 12 cells and the sbatch line:\n" + p.stdout)
        # Cell order: first axis slowest, seeds fastest.
        lines = [ln.split() for ln in p.stdout.splitlines() if ln.startswith("  ") and ln.split()[0].isdigit()]
        check([ln[1] for ln in lines[:4]] == ["silos-2_collab-fedavg_seed-0", "silos-2_collab-fedavg_seed-1",
                                              "silos-2_collab-fedavg_seed-2", "silos-2_collab-merge_seed-0"],
              f"cell order: {[ln[1] for ln in lines[:4]]}")
        # 100 lines, no held-out sets: 50 per silo with 2 silos, minus 5 test; × 2 silos × 2 rounds
        check(lines[0][6] == "45" and lines[0][7] == "180", f"plan's cost of cell 0: {lines[0]}")
        check(not os.path.exists(os.path.join(tmp, "out")), "plan writes nothing")

        p = cli("run", good, "--cell", "0-2,5", "--parallel", "2")
        check(p.returncode == 0, "run cells 0-2,5: " + p.stderr)
        if p.returncode != 0:
            print(p.stderr)
            for f in os.listdir(os.path.join(tmp, "out/good/logs")):
                print(f, open(os.path.join(tmp, "out/good/logs", f)).read())
        check(p.stderr.count("finished in") == 4, "4 cells finished:\n" + p.stderr)
        calls = open(env["FAKE_LOG"]).read().splitlines()
        check(sum(c.startswith("partition") for c in calls) == 3, "one partition per partition setting and seed "
              "(cells 2 and 5 share one):\n" + "\n".join(calls))
        runs = [c for c in calls if c.startswith("run")]
        check(all("--resume --out" in c and "--train.rounds 2" in c and "--collab" in c for c in runs),
              "clues run gets the study's settings and --resume:\n" + "\n".join(runs))
        p = cli("run", good, "--cell", "0,1")
        check(p.returncode == 0 and p.stderr.count("skipped") == 2, "finished cells are skipped:\n" + p.stderr)
        p = cli("run", good, FAKE_FAIL="collab-merge_seed-1")
        check(p.returncode == 1 and "FAILED" in p.stderr and "something went wrong" in p.stderr,
              "a failed cell: exit status 1 and its log's end:\n" + p.stderr)
        check(p.stderr.count("finished in") == 6, "the other cells still run:\n" + p.stderr)
        check(sum(1 for c in os.listdir(os.path.join(tmp, "out/good/cells"))
                  if os.path.exists(os.path.join(tmp, "out/good/cells", c, "report.json"))) == 10, "10 reports")
        p = cli("summarize", good)
        check(p.returncode == 0, "summarize: " + p.stderr)
        with open(os.path.join(tmp, "out/good/results.csv")) as f:
            rows = list(csv.DictReader(f))
        check(len(rows) == 20, f"results.csv: {len(rows)} lines, expected 10 cells × 2 rows")
        check({"partition.silos", "run.collab", "seed", "row", "macro_test_loss", "pooled_auroc"} <= set(rows[0]),
              f"results.csv columns {list(rows[0])}")
        md = open(os.path.join(tmp, "out/good/study.md")).read()
        check("Missing cells" in md and "4 (silos-2_collab-merge_seed-1)" in md, "missing cells listed:\n" + md)
        # silos 2, fedavg, clues: losses 2.00, 2.01, 2.02: mean 2.01, sd 0.01, half 2.4841e-2
        check("| 2 | fedavg | clues | 3 | 2.0100 ± 0.0100 [1.9852, 2.0348] |" in md, "cell interval line:\n" + md)
        # paired clues − full: −(0.05 + 0.01·seed); silos 2 fedavg: −0.05, −0.06, −0.07
        check("| 2 | fedavg | full | 3 | -0.0600 ± 0.0100 [-0.0848, -0.0352] | 3 of 3 |" in md, "paired line:\n" + md)
        check("| all |  | full | 10 |" in md and "10 of 10" in md, "paired over all cells")
        # marginal of silos = 4: seeds 0 and 2 have both collab values (seed 1 is left out):
        # per seed (2 + 0.1 / 2 + 0.01 seed): 2.05, 2.07
        check("| clues | 2.0600 ± 0.0141 [1.9329, 2.1871] | 2.0600 ± 0.0141" in md, "marginal mean along silos:\n" + md)
        for png in ("macro_test_loss_by_partition.silos.png", "pooled_auroc_by_run.collab.png"):
            path = os.path.join(tmp, "out/good/plots", png)
            check(os.path.isfile(path) and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n", f"plot {png}")
        p = cli("summarize", good, "--versus", "full")
        check(p.returncode == 0 and "against full" in open(os.path.join(tmp, "out/good/study.md")).read(),
              "--versus full")
        p = cli("summarize", good, "--versus", "nosuch")
        check(p.returncode == 2 and "no such row" in p.stderr, "--versus of an unknown row: " + p.stderr)

        # Input files: their SHA-256 in settings.json; a source changed in place is refused
        # by name; the hashes are kept in input_hashes.json and used while size and
        # modification time stay (a cached digest made wrong is believed: it was read).
        src_a = os.path.join(tmp, "data", "a.jsonl")
        original = open(src_a, "rb").read()
        digest = hashlib.sha256(original).hexdigest()
        settings = json.load(open(os.path.join(tmp, "out/good/settings.json")))["settings"]
        check(settings["inputs_sha256"].get("partition.source a=data/a.jsonl") == digest,
              f"settings.json records a.jsonl's SHA-256: {settings['inputs_sha256']}")
        cache_path = os.path.join(tmp, "out/good/input_hashes.json")
        cache = json.load(open(cache_path))
        check(cache.get(os.path.abspath(src_a), [None] * 3)[2] == digest, f"input_hashes.json: {cache}")
        cache[os.path.abspath(src_a)][2] = "0" * 64
        with open(cache_path, "w") as f:
            json.dump(cache, f)
        p = cli("run", good, "--cell", "0")
        check(p.returncode == 2 and "input files (a=data/a.jsonl)" in p.stderr, "the cached digest is used: " + p.stderr)
        os.remove(cache_path)
        p = cli("run", good, "--cell", "0")
        check(p.returncode == 0 and "skipped" in p.stderr, "without the cache, read again: " + p.stderr)
        with open(src_a, "ab") as f:
            f.write(b'{"instruction": "z", "output": "w"}\n')
        p = cli("run", good, "--cell", "0")
        check(p.returncode == 2 and "the contents of input files (a=data/a.jsonl) differ" in p.stderr,
              "a source changed in place: " + p.stderr)
        with open(src_a, "wb") as f:
            f.write(original)
        p = cli("run", good, "--cell", "0")
        check(p.returncode == 0, "the same content again (newer time): " + p.stderr)

        # The same OUT with another grid is refused; so is a different fixed setting.
        other = study("other.ini", open(good).read().replace("run.collab = fedavg merge", "run.collab = fedavg"))
        p = cli("run", other, "--cell", "0")
        check(p.returncode == 2 and "other settings" in p.stderr and "grid" in p.stderr, "other grid: " + p.stderr)
        more = study("more.ini", open(good).read().replace("seeds = 0 1 2", "seeds = 0 1 2 3"))
        p = cli("plan", more)
        check(p.returncode == 0 and "16 cells" in p.stdout, "more seeds in the same OUT: allowed")

        # Refusals: exit 2, one line naming the file and the fix, nothing written.
        cases = [
            ("bad section", "[study]\nseeds = 0\n[partitoin]\nsilos = 2\n", "unknown section [partitoin]"),
            ("empty axis", "[study]\nseeds = 0\n[partition]\nsource = a=data/a.jsonl\n[grid]\npartition.silos =\n",
             "[grid] partition.silos is an empty axis"),
            ("no seeds", "[study]\nranks = 2\n[partition]\nsilos = 2\n", "seeds is missing"),
            ("bad seeds", "[study]\nseeds = 0 x\n", "give non-negative integers"),
            ("seed as a setting", "[study]\nseeds = 0\n[partition]\nsource = a\nsilos = 2\n[run]\nseed = 3\n",
             "[run] seed: 'seed' is set by the study itself"),
            ("unknown study key", "[study]\nseeds = 0\nrank = 2\n", "[study] rank: unknown key"),
            ("axis without section", "[study]\nseeds = 0\n[partition]\nsource = a\n[grid]\nsilos = 2 4\n",
             "an axis is named partition.KEY or run.KEY"),
            ("unknown key", "[study]\nseeds = 0\n[partition]\nsource = a\nsilos = 2\n[run]\ntrain.round = 2\n",
             "'train.round' is not an option of clues run (did you mean train.rounds?)"),
            ("unknown axis key", "[study]\nseeds = 0\n[partition]\nsource = a\n[grid]\npartition.silo = 2 4\n",
             "no partition silos"),
            ("fixed and axis", "[study]\nseeds = 0\n[partition]\nsource = a\nsilos = 2\n[grid]\npartition.silos = 2 4\n",
             "both fixed in [partition] and an axis"),
            ("no silos", "[study]\nseeds = 0\n[partition]\nsource = a\n", "no partition silos"),
        ]
        for name, text, needle in cases:
            path = study("bad.ini", text.replace("[study]\n", "[study]\nout = badout\n", 1))
            p = cli("run", path)
            check(p.returncode == 2, f"{name}: exit status {p.returncode}, expected 2")
            check(needle in p.stderr and "bad.ini" in p.stderr and p.stderr.count("\n") == 1,
                  f"{name}: message lacks \"{needle}\": {p.stderr}")
            check(not os.path.exists(os.path.join(tmp, "badout")), f"{name}: OUT written")
        p = cli("run", good, "--cell", "12")
        check(p.returncode == 2 and "cells 0-11" in p.stderr, "--cell out of range: " + p.stderr)
    for f in failures:
        print("FAIL:", f)
    print("study: %d checks failed" % len(failures) if failures else "study: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
