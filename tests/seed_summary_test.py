#!/usr/bin/env python3
"""ctest scripts.seed_summary: scripts/seed_summary.py on hand-made reports of 3 seeds."""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "seed_summary.py")


def report(losses, aurocs, precision=None):
    comp = {}
    for row, loss in losses.items():
        comp[row] = {"macro_test_loss": loss, "pooled": {"auroc": aurocs.get(row)}}
        if precision is not None:
            comp[row]["pooled"].update(precision=precision, recall=1 - precision)
    return {"comparison": comp}


def main():
    seeds = [
        report({"clues": 2.00, "full": 2.10, "perplexity": 1.99}, {"clues": 0.8, "perplexity": 0.7}, 0.6),
        report({"clues": 2.02, "full": 2.08, "perplexity": 2.05}, {"clues": 0.7, "perplexity": 0.7}, 0.7),
        report({"clues": 2.04, "full": 2.12, "perplexity": 2.06}, {"clues": 0.9, "perplexity": 0.7}, 0.8),
    ]
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, rep in enumerate(seeds):
            os.makedirs(os.path.join(tmp, f"seed_{i}"))
            paths.append(os.path.join(tmp, f"seed_{i}", "report.json"))
            with open(paths[-1], "w") as f:
                json.dump(rep, f)
        out = os.path.join(tmp, "study")
        subprocess.run([sys.executable, SCRIPT, "--out", out] + paths, check=True, stdout=subprocess.DEVNULL)
        study = json.load(open(os.path.join(out, "study.json")))
        m, sd = study["rows"]["clues"]["loss_mean_sd"]
        check(abs(m - 2.02) < 1e-12 and abs(sd - 0.02) < 1e-12, f"clues loss mean/sd {m} {sd}, expected 2.02 0.02")
        am, asd = study["rows"]["clues"]["auroc_mean_sd"]
        check(abs(am - 0.8) < 1e-12 and abs(asd - 0.1) < 1e-12, f"clues AUROC mean/sd {am} {asd}, expected 0.8 0.1")
        check("auroc_mean_sd" not in study["rows"]["full"], "full has no AUROC, so no AUROC summary")
        pm, psd = study["rows"]["clues"]["precision_mean_sd"]
        rm, _ = study["rows"]["clues"]["recall_mean_sd"]
        check(abs(pm - 0.7) < 1e-12 and abs(psd - 0.1) < 1e-12 and abs(rm - 0.3) < 1e-12,
              f"clues precision {pm} ± {psd}, recall {rm}; expected 0.7 ± 0.1 and 0.3")
        vs = study["clues_vs"]["perplexity"]
        # differences +0.01, -0.03, -0.02: mean -0.0133.., CLUES better in 2 of 3
        check(vs["better"] == 2 and vs["seeds"] == 3, f"wins against perplexity {vs['better']} of {vs['seeds']}")
        check(abs(vs["diff_mean_sd"][0] - (-0.04 / 3)) < 1e-12, f"mean difference {vs['diff_mean_sd'][0]}")
        check(study["clues_vs"]["full"]["better"] == 3, "CLUES better than full in every seed")
        md = open(os.path.join(out, "study.md")).read()
        subprocess.run([sys.executable, SCRIPT, "--out", out, "--versus", "perplexity"] + paths, check=True,
                       stdout=subprocess.DEVNULL)
        vp = json.load(open(os.path.join(out, "study.json")))["versus"]["perplexity"]["clues"]
        # perplexity minus clues: -0.01, +0.03, +0.02
        check(vp["better"] == 1 and abs(vp["diff_mean_sd"][0] - 0.04 / 3) < 1e-12, f"perplexity against clues {vp}")
        check("perplexity against each row" in open(os.path.join(out, "study.md")).read(), "--versus table in study.md")
        for i, rep in enumerate(seeds):  # runs whose own selection is the perplexity row get its table unasked
            rep["rank"] = "perplexity"
            with open(paths[i], "w") as f:
                json.dump(rep, f)
        subprocess.run([sys.executable, SCRIPT, "--out", out] + paths, check=True, stdout=subprocess.DEVNULL)
        check("perplexity" in json.load(open(os.path.join(out, "study.json")))["versus"], "the runs' own row compared unasked")
        check("| perplexity | -0.0133 ± 0.0208 | 2 of 3 |" in md, "Markdown line for perplexity:\n" + md)
        # A row that selected nothing in some seed (null loss) is refused with a message.
        seeds[2]["comparison"]["perplexity"]["macro_test_loss"] = None
        with open(paths[2], "w") as f:
            json.dump(seeds[2], f)
        r = subprocess.run([sys.executable, SCRIPT, "--out", out] + paths, capture_output=True, text=True)
        check(r.returncode != 0 and "row perplexity selected nothing" in r.stderr and "seed_2" in r.stderr,
              "null loss refused: " + r.stderr)
        seeds[2]["comparison"]["perplexity"]["macro_test_loss"] = 2.06
        with open(paths[2], "w") as f:
            json.dump(seeds[2], f)
        # A seed without some row is refused with a message naming the rows.
        del seeds[1]["comparison"]["full"]
        with open(paths[1], "w") as f:
            json.dump(seeds[1], f)
        r = subprocess.run([sys.executable, SCRIPT, "--out", out] + paths, capture_output=True, text=True)
        check(r.returncode != 0 and "lacks comparison rows ['full']" in r.stderr, "missing row refused: " + r.stderr)
    # Within-silo AUROC, gap closed and kept against clean share, on 2 seeds with silos.
    def full_report(clues_loss, aurocs, kept):
        comp = {"full": {"macro_test_loss": 2.10, "pooled": {}, "silos": {"a": {}, "b": {}}},
                "oracle": {"macro_test_loss": 2.00, "pooled": {}, "silos": {"a": {}, "b": {}}},
                "clues": {"macro_test_loss": clues_loss, "pooled": {"auroc": 0.7},
                          "silos": {"a": {"auroc": aurocs[0]}, "b": {"auroc": aurocs[1]}}}}
        silos = {"a": {"samples": 100, "kept": kept[0], "labels": {"bad_share": 0.1}},
                 "b": {"samples": 100, "kept": kept[1], "labels": {"bad_share": 0.7}}}
        return {"comparison": comp, "silos": silos}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, rep in enumerate([full_report(2.05, (0.6, 0.8), (80, 40)), full_report(2.03, (0.7, 0.9), (90, 20))]):
            os.makedirs(os.path.join(tmp, f"seed_{i}"))
            paths.append(os.path.join(tmp, f"seed_{i}", "report.json"))
            with open(paths[-1], "w") as f:
                json.dump(rep, f)
        subprocess.run([sys.executable, SCRIPT, "--out", tmp] + paths, check=True, stdout=subprocess.DEVNULL)
        study = json.load(open(os.path.join(tmp, "study.json")))
        c = study["rows"]["clues"]
        check(abs(c["within_auroc_mean_sd"][0] - 0.75) < 1e-12, f"within-silo AUROC {c.get('within_auroc_mean_sd')}, expected 0.75")
        check(abs(c["gap_closed_mean_sd"][0] - 0.6) < 1e-9, f"gap closed {c.get('gap_closed_mean_sd')}, expected (0.5 + 0.7) / 2")
        kv = study["kept_vs_clean"]
        check(abs(kv["a"]["kept_mean_sd"][0] - 0.85) < 1e-12 and abs(kv["b"]["clean_mean_sd"][0] - 0.3) < 1e-12,
              f"kept vs clean {kv}")
        check("| b | 0.30 ± 0.14 | 0.30 |" in open(os.path.join(tmp, "study.md")).read(), "kept table line for b")
    for f in failures:
        print("FAIL:", f)
    print("seed_summary: %d checks failed" % len(failures) if failures else "seed_summary: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
