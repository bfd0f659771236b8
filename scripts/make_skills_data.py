#!/usr/bin/env python3
"""Build the second benchmark for clues: four silos of word and number skills.

Unlike the demo (translation, one language per silo), each silo here is another task on
English words taken from Debian's freedict dictionaries (headwords of freedict-eng-deu,
installed by scripts/setup.sh) or on numbers: `arith` (add two numbers), `reverse` (write
the word backwards), `upper` (write it in capitals) and `sort` (its letters in
alphabetical order). The corruptions are the kinds real instruction data has, none of
them the demo's:
  near_miss   a plausible answer with a small error (a sum off by a little, two letters
              swapped, one letter left small, one pair out of order)
  other_task  the answer to another task on the same input (instruction not followed)
  repeat      the right answer repeated two to four times (a generation loop)
  refusal     a canned refusal or non-answer ("I'm sorry, I can't help with that.")
  echo        the input copied back as the answer
A known fraction of every silo is corrupted (10/30/50/70% by default) with per-line
ground truth; held-out test, validation, anchor and public pretraining samples are drawn
from disjoint, always-clean words and numbers. Output files and flags are those of
scripts/make_demo_data.py, so every script that takes DATA works on either.

Standard library only; deterministic for a given --seed.

    python3 scripts/make_skills_data.py --out data/skills
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_demo_data as demo  # noqa: E402  (dictionaries, carving, atomic writes)

TASKS = {
    "arith": "Add the two numbers.",
    "reverse": "Write the word backwards.",
    "upper": "Write the word in capital letters.",
    "sort": "Write the letters of the word in alphabetical order.",
}
CORRUPTION_MIX = [("near_miss", 0.35), ("other_task", 0.25), ("repeat", 0.15),
                  ("refusal", 0.10), ("echo", 0.15)]
REFUSALS = ["I'm sorry, I can't help with that.", "As an AI, I cannot answer.",
            "N/A", "I don't know.", "Please ask again later."]


def solve(task, text):
    if task == "arith":
        a, b = (int(x) for x in text.split(" + "))
        return str(a + b)
    if task == "reverse":
        return text[::-1]
    if task == "upper":
        return text.upper()
    return "".join(sorted(text))


def near_miss(rng, task, text, answer):
    """A small error of the kind a careless writer makes; differs from answer."""
    for _ in range(100):
        if task == "arith":
            new = str(int(answer) + rng.choice([-10, -2, -1, 1, 2, 10]))
        elif task == "upper":
            i = rng.randrange(len(answer))
            new = answer[:i] + answer[i].lower() + answer[i + 1:]
        else:  # reverse, sort: two neighbouring letters swapped
            i = rng.randrange(len(answer) - 1)
            new = answer[:i] + answer[i + 1] + answer[i] + answer[i + 2:]
        if new != answer:
            return new
    return None


def corrupt(rng, task, text, answer, kind):
    if kind == "near_miss":
        return near_miss(rng, task, text, answer)
    if kind == "other_task":
        if task == "arith":  # the numbers written together: the wrong operation
            return text.replace(" + ", "")
        others = [t for t in TASKS if t not in (task, "arith")]
        for t in rng.sample(others, len(others)):
            new = solve(t, text)
            if new != answer:
                return new
        return None
    if kind == "repeat":
        return " ".join([answer] * rng.randint(2, 4))
    if kind == "refusal":
        return rng.choice(REFUSALS)
    return text if text != answer else None  # echo


def words_from_dictionary():
    """Lower-case a-z English headwords of 3 to 10 letters, in a fixed order."""
    heads = demo.load_pairs("deu")
    out, seen = [], set()
    for w in heads:
        w = w.strip()
        if 3 <= len(w) <= 10 and w.isascii() and w.isalpha() and w.islower() and w not in seen:
            seen.add(w)
            out.append(w)
    return out


def inputs_for(task, rng, words, n):
    if task == "arith":
        seen, out = set(), []
        while len(out) < n:
            a, b = rng.randint(10, 499), rng.randint(10, 499)
            if (a, b) not in seen:
                seen.add((a, b))
                out.append("%d + %d" % (a, b))
        return out
    usable = [w for w in words if task != "sort" or len(set(w)) > 1]
    if task in ("reverse", "sort"):
        usable = [w for w in usable if solve(task, w) != w]
    rng.shuffle(usable)
    if len(usable) < n:
        raise demo.DataError("%s has only %d usable words but %d are needed; ask for fewer samples"
                             % (task, len(usable), n))
    return usable[:n]


def sample(task, text):
    return {"instruction": TASKS[task], "input": text, "output": solve(task, text)}


def corrupt_silo(rng, task, samples, n_bad):
    positions = rng.sample(range(len(samples)), n_bad)
    raw = [(kind, share * n_bad) for kind, share in CORRUPTION_MIX]
    counts = {kind: int(v) for kind, v in raw}
    for kind, _ in sorted(raw, key=lambda kv: kv[1] - int(kv[1]), reverse=True)[:n_bad - sum(counts.values())]:
        counts[kind] += 1
    kinds_left = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(kinds_left)
    labels, kinds = [0] * len(samples), ["clean"] * len(samples)
    done = {kind: 0 for kind, _ in CORRUPTION_MIX}
    for p, kind in zip(positions, kinds_left):
        s = samples[p]
        new = corrupt(rng, task, s["input"], s["output"], kind)
        if new is None or new == s["output"]:
            kind, new = "repeat", " ".join([s["output"]] * 2)
        s["output"] = new
        labels[p], kinds[p] = 1, kind
        done[kind] += 1
    return labels, kinds, done


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-silo", type=int, default=400, help="samples per silo (default 400)")
    p.add_argument("--validation", type=int, default=64, help="validation samples in total (default 64)")
    p.add_argument("--anchor", type=int, default=64, help="anchor samples in total (default 64)")
    p.add_argument("--test", type=int, default=60, help="held-out test samples per silo (default 60)")
    p.add_argument("--pretrain", type=int, default=0,
                   help="public clean samples per task for pretrain.jsonl (default 0: not written)")
    p.add_argument("--pretrain-knows", type=float, default=0.0,
                   help="share of each silo's inputs whose correct answer is also in pretrain.jsonl")
    p.add_argument("--tasks", default="arith,reverse,upper,sort", help="comma list from %s" % ",".join(TASKS))
    p.add_argument("--bad-fractions", default="0.1,0.3,0.5,0.7", help="corrupted fraction per silo")
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not args.tasks or any(t not in TASKS for t in args.tasks) or len(set(args.tasks)) != len(args.tasks):
        p.error("--tasks must list distinct tasks from %s" % ",".join(TASKS))
    try:
        args.bad_fractions = [float(x) for x in args.bad_fractions.split(",")]
    except ValueError:
        p.error("--bad-fractions must be comma-separated numbers")
    if len(args.bad_fractions) != len(args.tasks) or any(not 0 <= f <= 1 for f in args.bad_fractions):
        p.error("--bad-fractions: one fraction in [0, 1] per task")
    for name in ("per_silo", "validation", "anchor", "test", "pretrain"):
        if getattr(args, name) < 0:
            p.error("--%s must not be negative" % name.replace("_", "-"))
    if not 0 <= args.pretrain_knows <= 1 or args.per_silo < 2:
        p.error("--pretrain-knows must be in [0, 1] and --per-silo at least 2")
    return args


def build(args):
    words = words_from_dictionary()
    val_shares = demo.split_evenly(args.validation, len(args.tasks))
    anchor_shares = demo.split_evenly(args.anchor, len(args.tasks))
    silos, validation, anchor, pretrain, manifest = {}, [], [], [], {}
    for i, task in enumerate(args.tasks):
        rng = random.Random("%d:%s" % (args.seed, task))
        sizes = [("validation", val_shares[i]), ("anchor", anchor_shares[i]), ("test", args.test),
                 ("pretrain", args.pretrain), ("silo", args.per_silo)]
        texts = inputs_for(task, rng, list(words), sum(n for _, n in sizes))
        parts = {name: [sample(task, t) for t in chunk] for name, chunk in demo.carve(texts, sizes).items()}
        if args.pretrain > 0 and args.pretrain_knows > 0:
            known = random.Random("%d:%s:knows" % (args.seed, task))
            pretrain += [dict(s) for s in known.sample(parts["silo"], round(args.pretrain_knows * len(parts["silo"])))]
        n_bad = round(args.bad_fractions[i] * args.per_silo)
        labels, kinds, counts = corrupt_silo(rng, task, parts["silo"], n_bad)
        silos[task] = (parts["silo"], labels, kinds, parts["test"])
        validation += parts["validation"]
        anchor += parts["anchor"]
        pretrain += parts["pretrain"]
        manifest[task] = {"language": TASKS[task], "usable_pairs": len(texts), "samples": len(parts["silo"]),
                          "test": len(parts["test"]), "validation": len(parts["validation"]),
                          "anchor": len(parts["anchor"]), "pretrain": len(parts["pretrain"]),
                          "bad_fraction": args.bad_fractions[i], "corrupted": n_bad, "corrupted_by_kind": counts}
    mix = random.Random("%d:mix" % args.seed)
    for shared in (validation, anchor, pretrain):
        mix.shuffle(shared)
    return silos, validation, anchor, pretrain, manifest


def main(argv=None):
    args = parse_args(argv)
    try:
        silos, validation, anchor, pretrain, manifest = build(args)
    except demo.DataError as err:
        print("make_skills_data: error: %s" % err, file=sys.stderr)
        return 2
    args.languages = args.tasks  # the manifest's field name, shared with the demo
    demo.write_outputs(args, silos, validation, anchor, pretrain, manifest)
    for task, info in manifest.items():
        kinds = " ".join("%s=%d" % kv for kv in info["corrupted_by_kind"].items())
        print("%s (%s): %d samples, %d corrupted (%.2f: %s), %d test"
              % (task, info["language"], info["samples"], info["corrupted"], info["bad_fraction"], kinds, info["test"]))
    print("wrote %s: %d validation, %d anchor, %d pretrain" % (args.out, len(validation), len(anchor), len(pretrain)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
