#!/usr/bin/env python3
"""Build the small multilingual demo data set for clues.

Reads Debian's freedict English-to-X dictionaries (dictd format, installed by
scripts/setup.sh) and turns each language into one private data silo of
word-translation instruction samples.  A known fraction of every silo is
corrupted (wrong, truncated, garbled or wrong-language translations) and the
per-line ground truth is written next to it, so a selection run can be scored.
Held-out test sets, a validation set, an anchor set and (optionally) extra
public pre-training samples are carved from disjoint, always-clean pairs.

Standard library only; deterministic for a given --seed.

    python3 scripts/make_demo_data.py --out data/demo
"""

import argparse
import gzip
import json
import os
import random
import re
import string
import sys
import tempfile

DICT_DIR = "/usr/share/dictd"
LANGUAGE_NAMES = {
    "deu": "German", "fra": "French", "ita": "Italian",
    "spa": "Spanish", "por": "Portuguese", "nld": "Dutch",
}
INSTRUCTION = "Translate the English word into {name}."

MAX_CHARS = 40        # longest headword / translation kept (characters)
MAX_PAIR_BYTES = 48   # input + output UTF-8 bytes, so that with the
                      # instruction a sample stays under ~96 bytes
# Corruption kinds and their target share of a silo's corrupted samples.
CORRUPTION_MIX = [("swap", 0.50), ("truncate", 0.20),
                  ("garble", 0.15), ("wrong_language", 0.15)]

DICTD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64_VALUE = {c: i for i, c in enumerate(DICTD_B64)}
HEADER_RE = re.compile(r"^(.*?)\s+/([^/]*)/")
NUMBERING_RE = re.compile(r"^\s*\d+\.\s*")
BRACKETS_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|<[^<>]*>|\{[^{}]*\}")
PRON_MARKS = "ˈˌː.ˑ "


class DataError(Exception):
    """A problem with the input dictionaries or requested sizes (exit 2)."""


# ---------------------------------------------------------------- dictionaries

def dict_paths(lang):
    base = os.path.join(DICT_DIR, "freedict-eng-%s" % lang)
    return base + ".index", base + ".dict.dz"


def decode_b64(text):
    value = 0
    for ch in text:
        value = value * 64 + B64_VALUE[ch]
    return value


def read_entries(lang):
    """Yield (offset, entry text) for each distinct dictionary entry."""
    index_path, dict_path = dict_paths(lang)
    for path in (index_path, dict_path):
        if not os.path.exists(path):
            raise DataError("dictionary file %s is missing (package "
                            "dict-freedict-eng-%s); run scripts/setup.sh"
                            % (path, lang))
    with gzip.open(dict_path, "rb") as f:
        data = f.read()
    seen = set()
    with open(index_path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0].startswith("00"):
                continue  # metadata such as 00-database-info
            offset, length = decode_b64(parts[1]), decode_b64(parts[2])
            if offset in seen:
                continue  # same entry indexed under several keys
            seen.add(offset)
            yield offset, data[offset:offset + length].decode("utf-8", "replace")


def normalize(text):
    text = text.replace("\u2010", "-").replace("\u2011", "-")
    text = text.replace("\u2019", "'")
    return " ".join(text.split())


def is_clean_phrase(text):
    """Letters with inner spaces, hyphens or apostrophes; no digits."""
    if not (2 <= len(text) <= MAX_CHARS):
        return False
    if text[0] in "-' " or text[-1] in "-' ":
        return False
    return all(ch.isalpha() or ch in " -'" for ch in text)


def clean_translation(line):
    """First translation on a translation line, without numbering or notes."""
    text = NUMBERING_RE.sub("", line)
    previous = None
    while previous != text:  # strip nested brackets from the inside out
        previous, text = text, BRACKETS_RE.sub(" ", text)
    text = re.split(r"[,;]", text)[0]
    return normalize(text)


def parse_entry(text):
    """Return (headword, translation, score) or None if the entry is unusable.

    The score ranks entries of the same headword: usage examples first (the
    main sense of a word carries them), then no subject tag like [techn.].
    """
    lines = text.split("\n")
    match = HEADER_RE.match(lines[0])
    if not match:
        return None
    head = normalize(match.group(1))
    pron = "".join(ch for ch in match.group(2) if ch not in PRON_MARKS)
    # Some entries of multi-word phrases keep only the first word as header;
    # their pronunciation gives them away by being far longer than the word.
    if len(pron) > 1.4 * len(head) + 1:
        return None
    body = [ln for ln in lines[1:] if ln.strip()]
    if not body or body[0].lstrip().startswith(('"', "see:", "Note:", "Synonym")):
        return None
    translation = clean_translation(body[0])
    if not (is_clean_phrase(head) and is_clean_phrase(translation)):
        return None
    if translation.casefold() == head.casefold():
        return None
    if len(head.encode()) + len(translation.encode()) > MAX_PAIR_BYTES:
        return None
    examples = sum(1 for ln in body if ln.lstrip().startswith('"'))
    tagged = "[" in body[0]
    return head, translation, (examples, not tagged)


def load_pairs(lang):
    """Dict english word -> translation, in dictionary order.

    Only single-word headwords are kept.  Where a dictionary has usage
    examples (the huge, mostly technical German one), only words whose chosen
    entry has examples are kept: those are the common words.
    """
    best = {}
    for offset, text in read_entries(lang):
        parsed = parse_entry(text)
        if parsed is None or " " in parsed[0]:
            continue
        head, translation, score = parsed
        key = head.casefold()
        rank = score + (-offset,)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, head, translation)
    chosen = sorted(best.values(), key=lambda item: -item[0][-1])
    if any(rank[0] > 0 for rank, _, _ in chosen):
        chosen = [item for item in chosen if item[0][0] > 0]
    return {head: translation for _, head, translation in chosen}


# ----------------------------------------------------------------- sampling

def make_sample(lang, english, translation):
    return {"instruction": INSTRUCTION.format(name=LANGUAGE_NAMES[lang]),
            "input": english, "output": translation}


def split_evenly(total, parts):
    """Split total over parts, remainder to the first ones."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def kind_counts(n_bad):
    """Largest-remainder split of n_bad over CORRUPTION_MIX."""
    raw = [(kind, share * n_bad) for kind, share in CORRUPTION_MIX]
    counts = {kind: int(value) for kind, value in raw}
    order = sorted(raw, key=lambda kv: kv[1] - int(kv[1]), reverse=True)
    for kind, _ in order[:n_bad - sum(counts.values())]:
        counts[kind] += 1
    return counts


def swap_output(rng, outputs, original):
    candidates = [o for o in outputs if o != original]
    return rng.choice(candidates) if candidates else None


def truncate_output(rng, original):
    keep = rng.choice([1, 2]) if len(original) > 2 else 1
    return original[:keep]


def garble_output(rng, original):
    length = max(2, len(original) + rng.randint(-1, 1))
    while True:
        text = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
        if text != original:
            return text


def other_language_options(english, original, lang, all_pairs):
    """Translations of english in other dictionaries that differ from original."""
    options = []
    for other in sorted(all_pairs):
        if other == lang:
            continue
        translation = all_pairs[other].get(english)
        if translation and translation.casefold() != original.casefold():
            options.append(translation)
    return options


def corrupt_silo(rng, lang, samples, n_bad, all_pairs):
    """Corrupt n_bad random samples in place; return labels and kind counts."""
    positions = rng.sample(range(len(samples)), n_bad)
    outputs = sorted({s["output"] for s in samples})
    wanted = kind_counts(n_bad)
    # Give the wrong_language kind to positions whose word has another
    # language's translation; what cannot be served that way becomes a swap.
    alternatives = {p: other_language_options(samples[p]["input"],
                                              samples[p]["output"], lang, all_pairs)
                    for p in positions}
    servable = [p for p in positions if alternatives[p]]
    wrong_lang = set(servable[:wanted["wrong_language"]])
    others = ["swap"] * (wanted["swap"] + wanted["wrong_language"] - len(wrong_lang))
    others += ["truncate"] * wanted["truncate"] + ["garble"] * wanted["garble"]
    rng.shuffle(others)
    rest = iter(others)

    labels = [0] * len(samples)
    kinds = ["clean"] * len(samples)
    counts = {kind: 0 for kind, _ in CORRUPTION_MIX}
    for p in positions:
        original = samples[p]["output"]
        kind = "wrong_language" if p in wrong_lang else next(rest)
        if kind == "wrong_language":
            new = rng.choice(alternatives[p])
        elif kind == "truncate":
            new = truncate_output(rng, original)
        elif kind == "garble":
            new = garble_output(rng, original)
        else:
            new = swap_output(rng, outputs, original)
            if new is None:  # every output in the silo is the same
                kind, new = "garble", garble_output(rng, original)
        assert new != original
        samples[p]["output"] = new
        labels[p] = 1
        kinds[p] = kind
        counts[kind] += 1
    return labels, kinds, counts


def carve(pairs, sizes):
    """Cut consecutive disjoint slices of the given sizes from pairs."""
    parts, start = {}, 0
    for name, size in sizes:
        parts[name] = pairs[start:start + size]
        start += size
    return parts


# ------------------------------------------------------------------ output

def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, text):
    """Write text to a temporary file next to path, then rename it over path."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates it 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def jsonl(samples):
    return "".join(json.dumps(s, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for s in samples)


# -------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-silo", type=int, default=400,
                        help="samples per silo (default 400)")
    parser.add_argument("--validation", type=int, default=64,
                        help="validation samples in total (default 64)")
    parser.add_argument("--anchor", type=int, default=64,
                        help="anchor samples in total (default 64)")
    parser.add_argument("--test", type=int, default=60,
                        help="held-out test samples per silo (default 60)")
    parser.add_argument("--pretrain", type=int, default=0,
                        help="public clean samples per language for "
                             "pretrain.jsonl (default 0: not written)")
    parser.add_argument("--pretrain-knows", type=float, default=0.0,
                        help="share of each silo's words whose correct translation "
                             "is also put in pretrain.jsonl, as a pretrained LLM "
                             "knows common words (default 0: the public corpus "
                             "shares no word with the silos)")
    parser.add_argument("--languages", default="deu,fra,ita,spa",
                        help="comma list from %s" % ",".join(LANGUAGE_NAMES))
    parser.add_argument("--bad-fractions", default="0.1,0.3,0.5,0.7",
                        help="corrupted fraction per silo, one per language")
    args = parser.parse_args(argv)

    args.languages = [l.strip() for l in args.languages.split(",") if l.strip()]
    unknown = [l for l in args.languages if l not in LANGUAGE_NAMES]
    if unknown or not args.languages:
        parser.error("unknown language(s) %s; choose from %s"
                     % (",".join(unknown), ",".join(LANGUAGE_NAMES)))
    if len(set(args.languages)) != len(args.languages):
        parser.error("--languages lists a language twice")
    try:
        args.bad_fractions = [float(x) for x in args.bad_fractions.split(",")]
    except ValueError:
        parser.error("--bad-fractions must be comma-separated numbers")
    if len(args.bad_fractions) != len(args.languages):
        parser.error("--bad-fractions has %d values but --languages has %d; "
                     "give one fraction per language"
                     % (len(args.bad_fractions), len(args.languages)))
    if any(not 0.0 <= f <= 1.0 for f in args.bad_fractions):
        parser.error("--bad-fractions must lie in [0, 1]")
    for name in ("per_silo", "validation", "anchor", "test", "pretrain"):
        if getattr(args, name) < 0:
            parser.error("--%s must not be negative" % name.replace("_", "-"))
    if not 0.0 <= args.pretrain_knows <= 1.0:
        parser.error("--pretrain-knows must be in [0, 1]")
    if args.per_silo < 2:
        parser.error("--per-silo must be at least 2")
    return args


def build(args):
    langs = args.languages
    # Other installed dictionaries also serve wrong-language corruptions.
    all_pairs = {}
    for lang in LANGUAGE_NAMES:
        if lang in langs or all(os.path.exists(p) for p in dict_paths(lang)):
            all_pairs[lang] = load_pairs(lang)

    val_shares = split_evenly(args.validation, len(langs))
    anchor_shares = split_evenly(args.anchor, len(langs))
    silos, validation, anchor, pretrain = {}, [], [], []
    manifest_silos = {}
    for i, lang in enumerate(langs):
        pairs = list(all_pairs[lang].items())
        sizes = [("validation", val_shares[i]), ("anchor", anchor_shares[i]),
                 ("test", args.test), ("pretrain", args.pretrain),
                 ("silo", args.per_silo)]
        needed = sum(size for _, size in sizes)
        if len(pairs) < needed:
            raise DataError("%s (%s) has only %d usable pairs but %d are needed "
                            "(%s); ask for fewer samples"
                            % (lang, LANGUAGE_NAMES[lang], len(pairs), needed,
                               ", ".join("%s %d" % s for s in sizes)))
        rng = random.Random("%d:%s" % (args.seed, lang))
        rng.shuffle(pairs)
        parts = {name: [make_sample(lang, e, t) for e, t in chunk]
                 for name, chunk in carve(pairs, sizes).items()}
        if args.pretrain > 0 and args.pretrain_knows > 0:
            known = random.Random("%d:%s:knows" % (args.seed, lang))
            count = round(args.pretrain_knows * len(parts["silo"]))
            pretrain += [dict(s) for s in known.sample(parts["silo"], count)]
        n_bad = round(args.bad_fractions[i] * args.per_silo)
        labels, sample_kinds, kinds = corrupt_silo(rng, lang, parts["silo"], n_bad, all_pairs)
        silos[lang] = (parts["silo"], labels, sample_kinds, parts["test"])
        validation += parts["validation"]
        anchor += parts["anchor"]
        pretrain += parts["pretrain"]
        manifest_silos[lang] = {
            "language": LANGUAGE_NAMES[lang], "usable_pairs": len(pairs),
            "samples": len(parts["silo"]), "test": len(parts["test"]),
            "validation": len(parts["validation"]), "anchor": len(parts["anchor"]),
            "pretrain": len(parts["pretrain"]),
            "bad_fraction": args.bad_fractions[i], "corrupted": n_bad,
            "corrupted_by_kind": kinds,
        }
    mix_rng = random.Random("%d:mix" % args.seed)
    for shared in (validation, anchor, pretrain):
        mix_rng.shuffle(shared)
    return silos, validation, anchor, pretrain, manifest_silos


def write_outputs(args, silos, validation, anchor, pretrain, manifest_silos):
    out = args.out
    for lang, (samples, labels, sample_kinds, test) in silos.items():
        write_atomic(os.path.join(out, "silos", lang + ".jsonl"), jsonl(samples))
        write_atomic(os.path.join(out, "labels", lang + ".txt"),
                     "".join("%d\n" % l for l in labels))
        write_atomic(os.path.join(out, "labels", lang + ".kinds.txt"),
                     "".join(k + "\n" for k in sample_kinds))
        write_atomic(os.path.join(out, "test", lang + ".jsonl"), jsonl(test))
    write_atomic(os.path.join(out, "validation.jsonl"), jsonl(validation))
    write_atomic(os.path.join(out, "anchor.jsonl"), jsonl(anchor))
    if args.pretrain > 0:
        write_atomic(os.path.join(out, "pretrain.jsonl"), jsonl(pretrain))
    manifest = {
        "seed": args.seed, "languages": args.languages,
        "bad_fractions": args.bad_fractions,
        "counts": {"per_silo": args.per_silo, "test_per_silo": args.test,
                   "validation": len(validation), "anchor": len(anchor),
                   "pretrain": len(pretrain)},
        "silos": manifest_silos,
        "source": "Debian freedict-eng-* dictionaries in " + DICT_DIR,
    }
    write_atomic(os.path.join(out, "manifest.json"),
                 json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")


def main(argv=None):
    args = parse_args(argv)
    try:
        result = build(args)
    except DataError as err:
        print("make_demo_data: error: %s" % err, file=sys.stderr)
        return 2
    write_outputs(args, *result)
    for lang, info in result[-1].items():
        kinds = " ".join("%s=%d" % kv for kv in info["corrupted_by_kind"].items())
        print("%s (%s): %d samples, %d corrupted (%.2f: %s), %d test, "
              "%d usable pairs"
              % (lang, info["language"], info["samples"], info["corrupted"],
                 info["bad_fraction"], kinds, info["test"], info["usable_pairs"]))
    print("wrote %s: %d validation, %d anchor, %d pretrain"
          % (args.out, len(result[1]), len(result[2]), len(result[3])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
