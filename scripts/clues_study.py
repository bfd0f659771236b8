#!/usr/bin/python3
"""clues study: a grid of `clues partition` + `clues run` cells, run and summarised.

    clues study plan STUDY.ini
    clues study run STUDY.ini [--cell I[,J,...] | --cell I-J] [--parallel K]
    clues study summarize STUDY.ini [--versus ROW]

The study file (INI) names the fixed `clues partition` and `clues run` settings, the grid
axes and the seeds; every combination of the axes' values and the seeds is one cell, run
into OUT/cells/<id>. See docs/studies.md ("Studies: `clues study`") for the format, the
order of the cells, the outputs and an example.

Installed as build/bin/clues-study; `clues study ...` runs it. It finds the `clues`
executable next to itself (--clues PATH or CLUES_BIN override) and launches `clues run`
with mpirun (--mpirun CMD or MPIRUN; an `srun ...` launcher gets -n RANKS instead of
--oversubscribe -np RANKS). Standard library, plus SciPy (t quantiles) and matplotlib (plots) for summarize.
"""

import argparse
import configparser
import csv
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time

FORMAT = "clues study 1"
PROG = "clues study"
SECTIONS = ("study", "partition", "run", "grid")
STUDY_KEYS = ("out", "ranks", "seeds")
# Set by the study itself, per cell, or meaningless in a study.
RESERVED = {"partition": ("out", "seed", "overwrite", "help"),
            "run": ("out", "seed", "resume", "overwrite", "help")}
# Metrics of a comparison row, as report.json names them (dotted: inside "pooled"), and
# the ones derived here. "lower" tells which direction is better.
ROW_METRICS = [("macro_test_loss", "macro_test_loss", True), ("macro_test_loss_sd", "macro_test_loss_sd", True),
               ("macro_perplexity", "macro_perplexity", True), ("macro_exact_match", "macro_exact_match", False),
               ("pooled_auroc", "pooled.auroc", False), ("pooled_precision", "pooled.precision", False),
               ("pooled_recall", "pooled.recall", False), ("pooled_f1", "pooled.f1", False)]
DERIVED = [("within_auroc", False), ("gap_closed", False), ("kept_share", None)]
METRICS = [m for m, _, _ in ROW_METRICS] + [m for m, _ in DERIVED]
LOWER_IS_BETTER = {m: lo for m, _, lo in ROW_METRICS}
LOWER_IS_BETTER.update({m: lo for m, lo in DERIVED})
MAIN_METRICS = ("macro_test_loss", "pooled_auroc")  # plotted, and paired in study.md


class StudyError(Exception):
    """A bad study file or request: one message, exit status 2."""


def fail(msg, status=2):
    sys.stderr.write(f"{PROG}: error: {msg}\n")
    sys.exit(status)


def warn(msg):
    sys.stderr.write(f"{PROG}: warning: {msg}\n")


# ------------------------------------------------------------------ statistics

def mean_sd(xs):
    """Mean and sample standard deviation (sd 0 for a single value)."""
    n = len(xs)
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return m, sd


def t_quantile(p, df):
    """The p quantile of Student's t with df degrees of freedom (SciPy, Debian's python3-scipy)."""
    from scipy.stats import t  # only summarize needs it

    return float(t.ppf(p, df))


def t_interval(xs, level=0.95):
    """(mean, sd, low, high) of the level t-interval for the mean; low/high None below 2 values."""
    m, sd = mean_sd(xs)
    if len(xs) < 2:
        return m, sd, None, None
    half = t_quantile(0.5 + level / 2, len(xs) - 1) * sd / math.sqrt(len(xs))
    return m, sd, m - half, m + half


# ------------------------------------------------------------------ the study file

def split_words(value, where):
    try:
        return shlex.split(value, comments=False)
    except ValueError as e:
        raise StudyError(f"{where}: {e} in \"{value}\"")


class Study:
    """A parsed, checked study file: its fixed settings, grid axes, seeds and cells."""

    def __init__(self, path):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        if not os.path.isfile(path):
            raise StudyError(f"{path}: no such study file")
        cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"),
                                       comment_prefixes=(";", "#"), empty_lines_in_values=False, strict=True)
        cp.optionxform = str  # keys as written: clues's options are case sensitive
        try:
            with open(path, encoding="utf-8") as f:
                self.text = f.read()
            cp.read_string(self.text, source=path)
        except (configparser.Error, UnicodeDecodeError, OSError) as e:
            raise StudyError(f"{path}: not a readable INI file: " + " ".join(str(e).split()))
        for sec in cp.sections():
            if sec not in SECTIONS:
                raise StudyError(f"{path}: unknown section [{sec}]; a study file has [study], [partition], [run] "
                                 "and [grid]")
        if not cp.has_section("study"):
            raise StudyError(f"{path}: no [study] section; it needs at least 'seeds = 0 1 2'")
        st = cp["study"]
        for key in st:
            if key not in STUDY_KEYS:
                raise StudyError(f"{path}: [study] {key}: unknown key; [study] takes out, ranks and seeds")
        seeds = split_words(st.get("seeds", ""), f"{path}: [study] seeds")
        if not seeds:
            raise StudyError(f"{path}: [study] seeds is missing or empty; give the seeds, e.g. 'seeds = 0 1 2'")
        try:
            self.seeds = [int(s) for s in seeds]
        except ValueError:
            raise StudyError(f"{path}: [study] seeds = {st['seeds']}: give non-negative integers separated by spaces")
        if any(s < 0 for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise StudyError(f"{path}: [study] seeds = {st['seeds']}: give distinct non-negative integers")
        try:
            self.ranks = int(st.get("ranks", "1"))
            if self.ranks < 1:
                raise ValueError
        except ValueError:
            raise StudyError(f"{path}: [study] ranks = {st.get('ranks')}: give a whole number of MPI ranks, >= 1")
        stem = os.path.splitext(os.path.basename(path))[0]
        out = st.get("out", "").strip() or os.path.join("study_out", stem)
        self.out_given = out
        self.out = os.path.normpath(os.path.join(self.dir, out))
        self.hash_cache = None  # {path: [size, mtime_ns, SHA-256]}, read by file_sha256
        # Fixed settings: key -> list of words (several words: the flag repeated).
        self.fixed = {}
        for sec in ("partition", "run"):
            self.fixed[sec] = {}
            if cp.has_section(sec):
                for key, value in cp[sec].items():
                    self.check_key(sec, key, f"[{sec}] {key}")
                    words = split_words(value, f"{path}: [{sec}] {key}")
                    if not words:
                        raise StudyError(f"{path}: [{sec}] {key} has no value; give one or remove the line")
                    self.fixed[sec][key] = words
        # Grid axes, in file order: (section, key, [values]).
        self.axes = []
        if cp.has_section("grid"):
            for name, value in cp["grid"].items():
                sec, dot, key = name.partition(".")
                if not dot or sec not in ("partition", "run") or not key:
                    raise StudyError(f"{path}: [grid] {name}: an axis is named partition.KEY or run.KEY "
                                     "(e.g. partition.silos = 4 8)")
                self.check_key(sec, key, f"[grid] {name}")
                if key in self.fixed[sec]:
                    raise StudyError(f"{path}: {sec}.{key} is both fixed in [{sec}] and an axis in [grid]; keep one")
                values = split_words(value, f"{path}: [grid] {name}")
                if not values:
                    raise StudyError(f"{path}: [grid] {name} is an empty axis; give its values separated by spaces "
                                     "or remove the line")
                if len(set(values)) != len(values):
                    raise StudyError(f"{path}: [grid] {name} = {value}: a value is given twice")
                self.axes.append((sec, key, values))
        if "silos" not in self.fixed["partition"] and not any(s == "partition" and k == "silos" for s, k, _ in self.axes):
            raise StudyError(f"{path}: no partition silos; set 'silos = N' in [partition] or an axis partition.silos")
        if "source" not in self.fixed["partition"] and not any(s == "partition" and k == "source" for s, k, _ in self.axes):
            raise StudyError(f"{path}: no partition source; set 'source = NAME=PATH ...' in [partition]")
        self.axis_names = [f"{s}.{k}" for s, k, _ in self.axes]
        self.short = self._short_names()
        self.cells = self._cells()

    def check_key(self, sec, key, where):
        if key in RESERVED[sec]:
            extra = " (the study gives --seed from [study] seeds)" if key == "seed" else \
                    " (the study gives --out per cell)" if key == "out" else ""
            raise StudyError(f"{self.path}: {where}: '{key}' is set by the study itself{extra}; remove it")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", key):
            raise StudyError(f"{self.path}: {where}: '{key}' is not an option name of clues {sec}")

    def _short_names(self):
        short = [k for _, k, _ in self.axes]
        return [k if short.count(k) == 1 else f"{s}.{k}" for (s, k, _), k in zip(self.axes, short)]

    def _cells(self):
        """Every combination of the axes' values (first axis slowest) and, innermost, the seeds."""
        cells, ids = [], {}
        for index, combo in enumerate(itertools.product(*[v for _, _, v in self.axes], self.seeds)):
            values, seed = list(combo[:-1]), combo[-1]
            parts = [f"{name}-{safe(v)}" for name, v in zip(self.short, values)] + [f"seed-{seed}"]
            cid = "_".join(parts)
            if cid in ids:
                raise StudyError(f"{self.path}: cells {ids[cid]} and {index} get the same folder name {cid}; "
                                 "make the axis values differ in letters, digits, '.', '+' or '-'")
            ids[cid] = index
            cells.append(Cell(self, index, cid, values, seed))
        return cells

    def settings(self):
        """What defines the study's results (compared with OUT's): fixed settings and grid."""
        config = self.fixed["run"].get("config")
        conf_hash = None
        if config:
            p = os.path.join(self.dir, config[0])
            try:
                conf_hash = self.file_sha256(p)
            except OSError:
                raise StudyError(f"{self.path}: [run] config = {config[0]}: cannot read {p}")
        return {"partition": self.fixed["partition"], "run": self.fixed["run"],
                "grid": {n: sorted(v) for n, (_, _, v) in zip(self.axis_names, self.axes)},
                "run_config_sha256": conf_hash, "inputs_sha256": self.input_hashes()}

    def input_hashes(self):
        """{word: SHA-256} of every file a fixed partition or run setting names (a source
        pool, a pretraining corpus, ...; NAME=PATH words by their PATH): cells and partitions
        are kept by their settings, so a pool changed in place must not pass for the old."""
        hashes = {}
        for sec in ("partition", "run"):
            for key, words in self.fixed[sec].items():
                if sec == "run" and key == "config":
                    continue  # hashed as run_config_sha256
                for word in words:
                    p = os.path.join(self.dir, word.split("=", 1)[-1])
                    if os.path.isfile(p):
                        hashes[f"{sec}.{key} {word}"] = self.file_sha256(p)
        return hashes

    def file_sha256(self, path):
        """SHA-256 of a file, read again only when its size or modification time changed
        since OUT/input_hashes.json recorded it: each task of a job array checks the inputs,
        and a pool of gigabytes read by hundreds of tasks would load a shared file system."""
        if self.hash_cache is None:
            try:
                with open(os.path.join(self.out, "input_hashes.json")) as f:
                    self.hash_cache = json.load(f)
            except (OSError, ValueError):
                self.hash_cache = {}
        st = os.stat(path)
        stamp = [st.st_size, st.st_mtime_ns]
        key = os.path.abspath(path)
        hit = self.hash_cache.get(key)
        if isinstance(hit, list) and hit[:2] == stamp:
            return hit[2]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self.hash_cache[key] = stamp + [h.hexdigest()]
        return h.hexdigest()


def safe(value):
    return re.sub(r"[^A-Za-z0-9.+\-]", "_", value)


class Cell:
    def __init__(self, study, index, cid, values, seed):
        self.study, self.index, self.id, self.values, self.seed = study, index, cid, values, seed
        self.folder = os.path.join(study.out, "cells", cid)
        self.log = os.path.join(study.out, "logs", cid + ".log")

    def setting(self, sec, key):
        """The cell's words for one option (grid value, else fixed), or None."""
        for (s, k, _), v in zip(self.study.axes, self.values):
            if (s, k) == (sec, key):
                return [v]
        return self.study.fixed[sec].get(key)

    def options(self, sec):
        """[(key, [words])] of one section: fixed first, then the grid's, in file order."""
        opts = list(self.study.fixed[sec].items())
        opts += [(k, [v]) for (s, k, _), v in zip(self.study.axes, self.values) if s == sec]
        return opts

    def partition_key(self):
        """The partition folder's name: a hash of the partition settings and the seed."""
        canon = json.dumps({"options": sorted(self.options("partition")), "seed": self.seed}, sort_keys=True)
        return hashlib.sha256(canon.encode()).hexdigest()[:12]

    def partition_dir(self):
        return os.path.join(self.study.out, "data", self.partition_key())

    def state(self):
        if os.path.isfile(os.path.join(self.folder, "report.json")):
            return "done"
        return "partial" if os.path.isdir(self.folder) else "todo"

    def report(self):
        with open(os.path.join(self.folder, "report.json")) as f:
            return json.load(f)


def flags(options):
    args = []
    for key, words in options:
        for w in words:
            args += [f"--{key}", w]
    return args


# ------------------------------------------------------------------ the clues executable

class Clues:
    """The clues executable and the launcher of its MPI runs."""

    def __init__(self, args):
        here = os.path.dirname(os.path.realpath(sys.argv[0]))
        self.bin = args.clues or os.environ.get("CLUES_BIN") or os.path.join(here, "clues")
        self.bin = os.path.abspath(self.bin)
        launcher = args.mpirun or os.environ.get("MPIRUN") or "mpirun"
        self.launcher = shlex.split(launcher)
        self.env = dict(os.environ)
        self.env.setdefault("OMP_NUM_THREADS", "1")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        self._help = {}

    def exists(self):
        return os.path.isfile(self.bin) and os.access(self.bin, os.X_OK)

    def is_srun(self):
        return os.path.basename(self.launcher[0]) == "srun"

    def launch(self, ranks):
        if self.is_srun():
            return self.launcher + ["-n", str(ranks)]
        return self.launcher + ["--oversubscribe", "-np", str(ranks)]

    def _read_help(self, command):
        """{option: default or None} from `clues COMMAND --help`, or None when it cannot be read."""
        try:
            p = subprocess.run([self.bin, command, "--help"], capture_output=True, text=True, env=self.env,
                               timeout=120, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        if p.returncode != 0:
            return None
        result = {}
        for m in re.finditer(r"^\s+(?:-\w \[ )?--([A-Za-z0-9_.\-]+)(?: \])?(?: arg)?(?: \(=([^)]*)\))?", p.stdout, re.M):
            result[m.group(1)] = m.group(2)
        return result or None

    def _identity(self):
        st = os.stat(self.bin)
        return {"bin": self.bin, "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def load_options(self, out):
        """The options of `clues partition` and `clues run`: from OUT/.clues_options.json when it
        was written for this very executable, else from both --help at once (each starts MPI)."""
        if self._help or not self.exists():
            return
        cache = os.path.join(out, ".clues_options.json")
        try:
            with open(cache) as f:
                saved = json.load(f)
            if saved.get("identity") == self._identity():
                self._help = saved["options"]
                return
        except (OSError, ValueError, KeyError, AttributeError):
            pass
        threads = {c: threading.Thread(target=lambda c=c: self._help.__setitem__(c, self._read_help(c)))
                   for c in ("partition", "run")}
        for t in threads.values():
            t.start()
        for t in threads.values():
            t.join()

    def save_options(self, out):
        """Keeps the options in OUT (read by the next command on this study)."""
        if self.exists() and all(self._help.get(c) for c in ("partition", "run")):
            write_atomic(os.path.join(out, ".clues_options.json"),
                         json.dumps({"identity": self._identity(), "options": self._help}) + "\n")

    def options(self, command):
        """{option: default or None} of `clues COMMAND`, or None when it cannot be read."""
        return self._help.get(command)

    def check_keys(self, study, required):
        """Every key of the study is an option of `clues partition` / `clues run`."""
        self.load_options(study.out)
        for sec in ("partition", "run"):
            known = self.options(sec)
            if known is None:
                if required:
                    raise StudyError(f"cannot list the options of {self.bin} {sec} (its --help failed); "
                                     "check the executable (--clues PATH or CLUES_BIN)")
                warn(f"the keys of {study.path} are not checked: no working clues at {self.bin} "
                     "(give --clues PATH or CLUES_BIN)")
                return
            keys = [(f"[{sec}] {k}", k) for k in study.fixed[sec]]
            keys += [(f"[grid] {sec}.{k}", k) for s, k, _ in study.axes if s == sec]
            for where, key in keys:
                if key not in known:
                    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                    hint = f" (did you mean {near[0]}?)" if near else ""
                    raise StudyError(f"{study.path}: {where}: '{key}' is not an option of clues {sec}{hint}; "
                                     f"`clues {sec} --help` lists them")


# ------------------------------------------------------------------ OUT and its settings

def check_out(study, write):
    """Refuse an OUT made from other settings; with write, record this study's there."""
    path = os.path.join(study.out, "settings.json")
    mine = study.settings()
    if os.path.isfile(path):
        try:
            with open(path) as f:
                theirs = json.load(f).get("settings")
        except (OSError, ValueError):
            theirs = None
        if isinstance(theirs, dict):
            # Input files compared where both sides hashed them: a pool removed after the
            # study does not stop summarize (a run without it fails in its partition), and
            # a folder from before input hashes has none.
            had, has = theirs.get("inputs_sha256") or {}, mine["inputs_sha256"]
            both = set(had) & set(has)
            theirs = dict(theirs, inputs_sha256={w: had[w] for w in both})
            mine_cmp = dict(mine, inputs_sha256={w: has[w] for w in both})
        else:
            mine_cmp = mine
        if theirs != mine_cmp:
            diff = []
            names = {"run_config_sha256": "the run's config file",
                     "inputs_sha256": "the contents of input files"}
            if isinstance(theirs, dict):
                for k in ("partition", "run", "grid", "run_config_sha256", "inputs_sha256"):
                    if theirs.get(k) != mine_cmp.get(k):
                        what = names.get(k, k)
                        if k == "inputs_sha256":
                            changed = sorted(w for w in theirs[k] if theirs[k][w] != mine_cmp[k][w])
                            what += " (" + ", ".join(w.split(" ", 1)[1] for w in changed) + ")"
                        diff.append(what)
            what = ", ".join(diff) or "an unreadable settings.json"
            raise StudyError(f"{study.out} holds a study made with other settings ({what} differ; see "
                             f"{path} and its study.ini); use another [study] out or remove that folder")
    if write:
        os.makedirs(os.path.join(study.out, "logs"), exist_ok=True)
        record = {"format": FORMAT, "study_file": os.path.abspath(study.path), "settings": mine,
                  "seeds": study.seeds, "ranks": study.ranks, "axes": study.axis_names,
                  "cells": [{"index": c.index, "id": c.id, "seed": c.seed,
                             "grid": dict(zip(study.axis_names, c.values)), "partition": c.partition_key()}
                            for c in study.cells]}
        write_atomic(path, json.dumps(record, indent=1) + "\n")
        write_atomic(os.path.join(study.out, "input_hashes.json"),
                     json.dumps(study.hash_cache or {}, indent=1) + "\n")
        write_atomic(os.path.join(study.out, "study.ini"), study.text)


def write_atomic(path, text, mode="w"):
    tmp = f"{path}.tmp-{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, mode) as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------ plan

def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return None


def fmt_s(s):
    if s is None:
        return "?"
    s = int(round(s))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def cost_of(cell, defaults, line_counts):
    """(samples per silo, silos, rounds, sample-rounds): silos × samples per silo × rounds."""
    def num(sec, key, default=None):
        w = cell.setting(sec, key)
        v = w[0] if w else (defaults.get(sec) or {}).get(key, default)
        try:
            return float(v)
        except (TypeError, ValueError):
            return None
    silos = num("partition", "silos")
    rounds = num("run", "train.rounds")
    per_silo = None
    manifest = os.path.join(cell.partition_dir(), "manifest.json")
    if os.path.isfile(manifest):
        try:
            with open(manifest) as f:
                m = json.load(f)
            per_silo = sum(s["samples"] for s in m["silos"]) / len(m["silos"])
        except (OSError, ValueError, KeyError, ZeroDivisionError):
            per_silo = None
    if per_silo is None and silos:
        sources = cell.setting("partition", "source") or []
        counts = [line_counts.setdefault(s, count_lines(os.path.join(cell.study.dir, s.partition("=")[2] or s)))
                  for s in sources]
        if counts and None not in counts:
            held = 0 if cell.setting("partition", "domain-field") else len(counts) * (
                (num("partition", "validation-size", 0) or 0) + (num("partition", "anchor-size", 0) or 0))
            per_silo = max(0.0, (sum(counts) - held) / silos - (num("partition", "test-size", 0) or 0))
    cost = silos * per_silo * rounds if None not in (silos, per_silo, rounds) else None
    return per_silo, silos, rounds, cost


def timing(cell):
    try:
        return float(cell.report().get("timings_s", {}).get("total"))
    except (OSError, ValueError, TypeError):
        return None


def states_left(rows):
    return sum(1 for r in rows if r[1] != "done")


def cmd_plan(study, clues, args):
    clues.check_keys(study, required=False)
    try:
        check_out(study, write=False)
    except StudyError as e:
        warn(str(e))
    defaults = {sec: clues.options(sec) or {} for sec in ("partition", "run")}
    line_counts = {}
    rows, done_rate = [], []
    for c in study.cells:
        per_silo, silos, rounds, cost = cost_of(c, defaults, line_counts)
        state = c.state()
        secs = timing(c) if state == "done" else None
        if secs is not None and cost:
            done_rate.append((secs, cost))
        rows.append((c, state, per_silo, cost, secs))
    rate = sum(s for s, _ in done_rate) / sum(c for _, c in done_rate) if done_rate else None
    head = ["index", "id"] + study.axis_names + ["seed", "state", "samples/silo", "cost", "seconds"]
    table = []
    left_s, left_known = 0.0, True
    for c, state, per_silo, cost, secs in rows:
        est = secs if secs is not None else (rate * cost if rate is not None and cost else None)
        shown = fmt_s(est) if est is not None else "?"
        if state == "done":
            shown = f"{fmt_s(secs)} (took)" if secs is not None else "done"
        elif est is None:
            left_known = False
        else:
            left_s += est
            shown = "~" + shown
        table.append([str(c.index), c.id] + c.values + [str(c.seed), state,
                      "?" if per_silo is None else f"{per_silo:.0f}", "?" if cost is None else f"{cost:.0f}", shown])
    widths = [max(len(r[i]) for r in [head] + table) for i in range(len(head))]
    print(f"study {study.path}: {len(study.cells)} cells = "
          + " × ".join([f"{len(v)} {n}" for n, (_, _, v) in zip(study.axis_names, study.axes)]
                       + [f"{len(study.seeds)} seeds"])
          + f", {study.ranks} rank(s) each; out {os.path.relpath(study.out)}")
    for r in [head] + table:
        print("  " + "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
    states = [r[1] for r in rows]
    total_cost = [r[3] for r in rows]
    print(f"total: {len(rows)} cells: {states.count('done')} done, {states.count('partial')} started, "
          f"{states.count('todo')} to run; cost = silos × samples per silo × train.rounds (sample-rounds), "
          f"{sum(x for x in total_cost if x):.0f} in all" + ("" if None not in total_cost else " (some unknown)"))
    if rate is not None:
        rest = (f"about {fmt_s(left_s)}{'' if left_known else ' or more'} for the rest on {study.ranks} rank(s) each"
                if states_left(rows) else "nothing left to run")
        print(f"time: {rate * 1000:.3g} s per 1000 sample-rounds from {len(done_rate)} finished cell(s); {rest}")
    else:
        print("time: no finished cell yet to extrapolate from (report.json timings_s.total)")
    print("run here:   clues study run " + shlex.quote(study.path) + " [--parallel K]")
    print(f"on Slurm:   sbatch --array=0-{len(study.cells) - 1} --ntasks={study.ranks} slurm/clues_study.sbatch "
          + shlex.quote(study.path))
    return 0


# ------------------------------------------------------------------ run

def parse_cells(spec, n, path):
    chosen = []
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise StudyError(f"--cell {spec}: give cell indices as I, I,J,... or I-J")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo or hi >= n:
            raise StudyError(f"--cell {spec}: {path} has cells 0-{n - 1}")
        chosen += [i for i in range(lo, hi + 1) if i not in chosen]
    return chosen


class Runner:
    def __init__(self, study, clues, args):
        self.study, self.clues, self.args = study, clues, args
        self.ranks = args.ranks or study.ranks
        self.lock = threading.Lock()
        self.part_locks = {}
        self.failed = []
        self.finished = 0
        self.ran, self.to_run = 0, 0  # cells run (not skipped) so far, and to run in all
        self.durations = []

    def say(self, msg):
        with self.lock:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    def logged(self, cell, argv, cwd):
        """Runs argv with its output appended to the cell's log; returns the exit status."""
        with open(cell.log, "a") as log:
            log.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} in {cwd}: {shlex.join(argv)}\n")
            log.flush()
            try:
                return subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=self.clues.env,
                                      stdin=subprocess.DEVNULL).returncode
            except OSError as e:
                log.write(f"cannot start {argv[0]}: {e}\n")
                return 127

    def partition(self, cell):
        """The cell's partition folder, made if missing (shared by cells with the same settings)."""
        final = cell.partition_dir()
        key = cell.partition_key()
        with self.lock:
            lock = self.part_locks.setdefault(key, threading.Lock())
        with lock:
            if os.path.isfile(os.path.join(final, "manifest.json")):
                return final, 0
            os.makedirs(os.path.dirname(final), exist_ok=True)
            tmp = os.path.join(os.path.dirname(final), f".{key}.{socket.gethostname()}-{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            # One process: started directly (an MPI singleton), or by srun inside a Slurm job.
            launch = self.clues.launch(1) if self.clues.is_srun() else []
            argv = launch + [self.clues.bin, "partition"] + flags(cell.options("partition")) + \
                ["--seed", str(cell.seed), "--out", tmp]
            rc = self.logged(cell, argv, self.study.dir)
            if rc != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                return final, rc
            try:
                os.rename(tmp, final)  # a whole folder, or none; another job may have won the race
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                if not os.path.isfile(os.path.join(final, "manifest.json")):
                    raise
            return final, 0

    def run_args(self, cell, pdir):
        with open(os.path.join(pdir, "manifest.json")) as f:
            words = json.load(f)["clues_run_arguments"].split()
        args = []
        for i, w in enumerate(words):  # paths relative to the partition folder, made absolute
            if i % 2 == 1:
                name, eq, p = w.rpartition("=")
                w = name + eq + os.path.join(pdir, p)
            args.append(w)
        args += flags(cell.options("run"))
        if self.args.threads and not cell.setting("run", "threads"):
            args += ["--threads", str(self.args.threads)]
        return args + ["--seed", str(cell.seed), "--resume", "--out", cell.folder]

    def run_cell(self, cell, number, total):
        state = cell.state()
        if state == "done":
            self.say(f"cell {cell.index} {cell.id}: done already (report.json), skipped")
            with self.lock:
                self.finished += 1
            return
        start = time.time()
        self.say(f"cell {cell.index} {cell.id}: " + ("resuming" if state == "partial" else "starting")
                 + f" on {self.ranks} rank(s); log {os.path.relpath(cell.log)}")
        try:
            pdir, rc = self.partition(cell)
            what = "clues partition"
            if rc == 0:
                what = "clues run"
                argv = self.clues.launch(self.ranks) + [self.clues.bin, "run"] + self.run_args(cell, pdir)
                rc = self.logged(cell, argv, self.study.dir)
        except (OSError, ValueError, KeyError) as e:
            with open(cell.log, "a") as log:
                log.write(f"{PROG}: {e}\n")
            rc, what = 1, "the study driver"
        took = time.time() - start
        with self.lock:
            self.finished += 1
            self.ran += 1
            if rc == 0 and cell.state() == "done":
                self.durations.append(took)
            else:
                self.failed.append(cell)
            done, left = self.finished, self.to_run - self.ran
            eta = (sum(self.durations) / len(self.durations) * left / max(1, min(self.args.parallel, left))
                   if self.durations and left > 0 else None)
        if rc == 0 and cell.state() == "done":
            self.say(f"cell {cell.index} {cell.id}: finished in {fmt_s(took)} "
                     f"[{done}/{total}" + (f", ETA {fmt_s(eta)}" if eta is not None else "") + "]")
        else:
            reason = f"exit status {rc}" if rc else "no report.json"
            self.say(f"cell {cell.index} {cell.id}: FAILED in {what} ({reason}) after {fmt_s(took)} "
                     f"[{done}/{total}]; log {cell.log}, its end:\n" + log_tail(cell.log))


def log_tail(path, n=6):
    """The last attempt's error lines (clues's message, above Open MPI's banner) and last n lines."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return "    (no log)"
    attempt = text[text.rfind("\n==== ") + 1:].splitlines()[1:]
    errors = [line for line in attempt if "error" in line.lower() and not line.startswith("[")][:3]
    tail = attempt[-n:]
    shown = [line for line in errors if line not in tail] + (["..."] if errors and errors[-1] not in tail else []) + tail
    return "\n".join("    " + line for line in shown)


def cmd_run(study, clues, args):
    if not clues.exists():
        raise StudyError(f"no clues executable at {clues.bin}: build first (scripts/build.sh), or give --clues PATH "
                         "or CLUES_BIN")
    clues.check_keys(study, required=False)
    cells = [study.cells[i] for i in parse_cells(args.cell, len(study.cells), study.path)] if args.cell \
        else study.cells
    if args.parallel < 1:
        raise StudyError("--parallel must be at least 1")
    check_out(study, write=True)
    clues.save_options(study.out)
    runner = Runner(study, clues, args)
    start = time.time()
    todo = [c for c in cells if c.state() != "done"]
    runner.to_run = len(todo)
    runner.say(f"{PROG}: {len(cells)} cell(s) of {study.path}: {len(cells) - len(todo)} done already, "
               f"{len(todo)} to run, {args.parallel} at a time, {runner.ranks} rank(s) each")
    if args.parallel == 1:
        for n, c in enumerate(cells):
            runner.run_cell(c, n, len(cells))
    else:
        queue = list(cells)
        qlock = threading.Lock()

        def worker():
            while True:
                with qlock:
                    if not queue:
                        return
                    c = queue.pop(0)
                runner.run_cell(c, 0, len(cells))
        threads = [threading.Thread(target=worker) for _ in range(args.parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    bad = sorted(runner.failed, key=lambda c: c.index)
    runner.say(f"{PROG}: {len(cells) - len(bad)} of {len(cells)} cell(s) finished, {len(bad)} failed"
               + (" (" + ",".join(str(c.index) for c in bad) + ")" if bad else "") + f"; wall time {fmt_s(time.time() - start)}")
    if not bad and not args.cell:
        runner.say(f"next: clues study summarize {shlex.quote(study.path)}")
    return 1 if bad else 0


# ------------------------------------------------------------------ summarize

def get(d, dotted):
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d if isinstance(d, (int, float)) and not isinstance(d, bool) else None


def row_metrics(report, row):
    """{metric: value or None} of one comparison row of report.json ("run": the run's own figures)."""
    if row == "run":
        r = {"pooled": report.get("pooled") or {}}
        silo_aurocs = [(s.get("labels") or {}).get("auroc") for s in report.get("silos", {}).values()]
        kept = [(s.get("kept"), s.get("samples")) for s in report.get("silos", {}).values()]
    else:
        r = report["comparison"][row]
        silo_aurocs = [s.get("auroc") for s in r.get("silos", {}).values()]
        kept = [(s.get("kept"), report.get("silos", {}).get(n, {}).get("samples")) for n, s in r.get("silos", {}).items()]
    out = {m: get(r, key) for m, key, _ in ROW_METRICS}
    out["within_auroc"] = (sum(silo_aurocs) / len(silo_aurocs)
                           if silo_aurocs and all(isinstance(a, (int, float)) for a in silo_aurocs) else None)
    comp = report.get("comparison") or {}
    full, oracle = (get(comp.get(x, {}), "macro_test_loss") for x in ("full", "oracle"))
    x = out["macro_test_loss"]
    out["gap_closed"] = (full - x) / (full - oracle) if None not in (full, oracle, x) and full != oracle else None
    out["kept_share"] = (sum(k for k, _ in kept) / sum(n for _, n in kept)
                         if kept and all(isinstance(k, int) and isinstance(n, int) for k, n in kept)
                         and sum(n for _, n in kept) > 0 else None)
    return out


def reference_row(report, rows):
    sel = (report.get("selection") or {}).get("rule")
    for r in (sel, report.get("rank"), "clues"):
        if r in rows:
            return r
    return rows[0]


def interval_text(xs, digits=4):
    if not xs:
        return "-"
    m, sd, lo, hi = t_interval(xs)
    if lo is None:
        return f"{m:.{digits}f} (n=1)"
    return f"{m:.{digits}f} ± {sd:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def cmd_summarize(study, clues, args):
    check_out(study, write=False)
    done, missing, lines = [], [], []
    rows_order = []
    for c in study.cells:
        if c.state() != "done":
            missing.append(c)
            continue
        try:
            rep = c.report()
        except (OSError, ValueError) as e:
            warn(f"cell {c.index} {c.id}: cannot read its report.json ({e}); left out")
            missing.append(c)
            continue
        rows = list(rep.get("comparison") or {}) or ["run"]
        ref = args.versus or reference_row(rep, rows)
        for r in rows:
            if r not in rows_order:
                rows_order.append(r)
        secs = get(rep, "timings_s.total")
        for r in rows:
            line = {"index": c.index, "cell": c.id}
            line.update(zip(study.axis_names, c.values))
            line.update(seed=c.seed, row=r, reference=int(r == ref))
            line.update(row_metrics(rep, r))
            line["seconds"] = secs
            lines.append(line)
        done.append((c, ref))
    if not done:
        fail(f"no finished cell in {study.out} yet (no cells/*/report.json); run `clues study run {study.path}` first",
             1)
    refs = sorted({r for _, r in done})
    if args.versus and args.versus not in rows_order:
        raise StudyError(f"--versus {args.versus}: no such row in the reports ({', '.join(rows_order)})")
    ref = args.versus or refs[0]
    if len(refs) > 1:
        warn(f"cells differ in their own selection's row ({', '.join(refs)}); comparing against {ref} "
             "(give --versus ROW)")
    os.makedirs(study.out, exist_ok=True)
    columns = ["index", "cell"] + study.axis_names + ["seed", "row", "reference"] + METRICS + ["seconds"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for line in lines:
        line["reference"] = int(line["row"] == ref)
        w.writerow({k: ("" if line.get(k) is None else line[k]) for k in columns})
    write_atomic(os.path.join(study.out, "results.csv"), buf.getvalue())
    metrics = [m for m in METRICS if any(line.get(m) is not None for line in lines)]
    md = markdown(study, lines, rows_order, metrics, ref, done, missing)
    plots = plot(study, lines, rows_order, [m for m in MAIN_METRICS if m in metrics] or metrics[:1])
    if plots:
        md += "\n## Plots\n\n" + "\n".join(f"![{os.path.basename(p)}]({os.path.relpath(p, study.out)})"
                                           for p in plots) + "\n"
    write_atomic(os.path.join(study.out, "study.md"), md)
    sys.stdout.write(md)
    sys.stderr.write(f"{PROG}: {len(done)} of {len(study.cells)} cells summarised; wrote {study.out}/results.csv "
                     f"({len(lines)} lines), study.md" + (f" and {len(plots)} plots in {study.out}/plots" if plots else "")
                     + "\n")
    return 0


def per_seed_means(lines, row, metric, keep, complete):
    """{seed: mean of the metric over the lines of row that keep() accepts}, for the seeds
    with `complete` such lines (a seed missing a cell or a figure would weigh the others
    unevenly: it is left out)."""
    by_seed = {}
    for line in lines:
        if line["row"] == row and keep(line) and line.get(metric) is not None:
            by_seed.setdefault(line["seed"], []).append(line[metric])
    return {s: sum(v) / len(v) for s, v in by_seed.items() if len(v) == complete}


def marginal(study, lines, row, metric, axis, value):
    """Per seed means along one axis value (over every combination of the other axes)."""
    name = study.axis_names[axis]
    complete = math.prod(len(v) for i, (_, _, v) in enumerate(study.axes) if i != axis)
    return list(per_seed_means(lines, row, metric, lambda line: line[name] == value, complete).values())


def markdown(study, lines, rows, metrics, ref, done, missing):
    names = study.axis_names
    out = [f"# clues study: {os.path.basename(study.path)}", "",
           f"{len(done)} of {len(study.cells)} cells finished ({len(study.seeds)} seeds: "
           f"{' '.join(map(str, study.seeds))}); axes: " + (", ".join(
               f"{n} = {' '.join(v)}" for n, (_, _, v) in zip(names, study.axes)) or "none") + ".",
           "Figures: mean ± sd over seeds [95% t-interval of the mean]; results.csv has every cell and row.", ""]
    if missing:
        out += ["Missing cells (not finished; left out): " + ", ".join(f"{c.index} ({c.id})" for c in missing), ""]
    groups = [list(combo) for combo in itertools.product(*[v for _, _, v in study.axes])]
    by_point, by_cell = {}, {}  # (grid values, row) -> lines; (cell, row) -> line
    for line in lines:
        by_point.setdefault((tuple(line[n] for n in names), line["row"]), []).append(line)
        by_cell[(line["cell"], line["row"])] = line
    out += ["## Every grid cell, over seeds", ""]
    for m in metrics:
        out += [f"### {m}", "", "| " + " | ".join(names + ["row", "n", m]) + " |",
                "|" + "---|" * (len(names) + 3)]
        for g in groups:
            for r in rows:
                xs = [line[m] for line in by_point.get((tuple(g), r), []) if line.get(m) is not None]
                if xs:
                    out.append("| " + " | ".join(g + [r, str(len(xs)), interval_text(xs)]) + " |")
        out.append("")
    if names:
        out += ["## Marginal means along each axis", "",
                "Per seed, the mean over every combination of the other axes (a seed missing one of them is left out); "
                "then mean ± sd [95% t-interval] over those seeds.", ""]
        for m in [x for x in MAIN_METRICS if x in metrics] or metrics[:1]:
            for i, n in enumerate(names):
                out += [f"### {m} by {n}", "", "| row | " + " | ".join(f"{n} = {v}" for v in study.axes[i][2]) + " |",
                        "|---|" + "---|" * len(study.axes[i][2])]
                for r in rows:
                    cells = [interval_text(marginal(study, lines, r, m, i, v)) for v in study.axes[i][2]]
                    if any(c != "-" for c in cells):
                        out.append(f"| {r} | " + " | ".join(cells) + " |")
                out.append("")
    out += [f"## Paired differences against {ref}", "",
            f"Same cell and seed: {ref} minus the row. Lower is better for losses and perplexity, higher for AUROC, "
            f"precision, recall, F1 and exact match; 'better' counts the pairs where {ref} is better.", ""]
    for m in [x for x in MAIN_METRICS if x in metrics] or metrics[:1]:
        lower = LOWER_IS_BETTER.get(m)
        table = []
        for g in groups + ([None] if names else []):
            for r in rows:
                if r == ref:
                    continue
                diffs = []
                for line in (by_point.get((tuple(g), ref), []) if g is not None else
                             [x for x in lines if x["row"] == ref]):
                    other = by_cell.get((line["cell"], r))
                    if line.get(m) is not None and other is not None and other.get(m) is not None:
                        diffs.append(line[m] - other[m])
                if diffs:
                    better = sum(d < 0 for d in diffs) if lower else sum(d > 0 for d in diffs)
                    label = g if g is not None else ["all"] + [""] * (len(names) - 1)
                    table.append("| " + " | ".join(label + [r, str(len(diffs)), interval_text(diffs).replace(
                        "(n=1)", "(one pair)"), f"{better} of {len(diffs)}"]) + " |")
        if table:
            out += [f"### {m}", "", "| " + " | ".join(names + ["row", "pairs", f"{ref} − row", f"{ref} better"]) + " |",
                    "|" + "---|" * (len(names) + 4)] + table + [""]
        else:
            out += [f"{m}: no other row has it.", ""]
    return "\n".join(out)


def plot(study, lines, rows, metrics):
    """One PNG per main metric and axis: the marginal mean (95% t-interval over seeds), a line per row."""
    if not study.axes:
        return []
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warn("matplotlib is not installed: no plots (apt-get install python3-matplotlib)")
        return []
    folder = os.path.join(study.out, "plots")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for m in metrics:
        for i, n in enumerate(study.axis_names):
            values = study.axes[i][2]
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            drawn = False
            for k, r in enumerate(rows):
                ys, lo, hi, xs = [], [], [], []
                for j, v in enumerate(values):
                    per = marginal(study, lines, r, m, i, v)
                    if not per:
                        continue
                    mean, _, a, b = t_interval(per)
                    xs.append(j + (k - (len(rows) - 1) / 2) * 0.04)
                    ys.append(mean)
                    lo.append(mean - a if a is not None else 0)
                    hi.append(b - mean if b is not None else 0)
                if ys:
                    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=r)
                    drawn = True
            if not drawn:
                plt.close(fig)
                continue
            ax.set_xticks(range(len(values)))
            ax.set_xticklabels(values)
            ax.set_xlabel(n)
            ax.set_ylabel(m)
            ax.set_title(f"{m} by {n} (mean, 95% t-interval over seeds)", fontsize=9)
            ax.legend(fontsize=8)
            fig.tight_layout()
            path = os.path.join(folder, f"{m}_by_{safe(n)}.png")
            fig.savefig(path + ".tmp.png", dpi=100)
            os.replace(path + ".tmp.png", path)
            plt.close(fig)
            paths.append(path)
    return paths


# ------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clues", help="the clues executable (default: CLUES_BIN, else the clues next to this script)")
    ap.add_argument("--mpirun", help="the MPI launcher, e.g. 'mpirun' or 'srun --cpu-bind=cores' (default: MPIRUN, "
                                     "else mpirun)")
    sub = ap.add_subparsers(dest="command", metavar="{plan,run,summarize}")
    p = sub.add_parser("plan", help="list the cells, their state and cost, and the sbatch line")
    p.add_argument("study")
    r = sub.add_parser("run", help="run the cells here (finished ones skipped, started ones resumed)")
    r.add_argument("study")
    r.add_argument("--cell", help="only these cells: I, I,J,... or I-J (indices from plan)")
    r.add_argument("--parallel", type=int, default=1, metavar="K", help="cells at once (default 1)")
    r.add_argument("--ranks", type=int, help="MPI ranks per cell (default: the study's ranks)")
    r.add_argument("--threads", type=int, help="pass --threads N to clues run (unless the study sets run threads)")
    s = sub.add_parser("summarize", aliases=["summarise"], help="results.csv, study.md and plots in OUT")
    s.add_argument("study")
    s.add_argument("--versus", metavar="ROW", help="compare every row with ROW (default: the runs' own selection row)")
    for q in (p, r, s):  # also accepted after the subcommand
        q.add_argument("--clues", dest="clues_sub", help=argparse.SUPPRESS)
        q.add_argument("--mpirun", dest="mpirun_sub", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.command:
        ap.print_usage(sys.stderr)
        return 2
    args.clues = getattr(args, "clues_sub", None) or args.clues
    args.mpirun = getattr(args, "mpirun_sub", None) or args.mpirun
    for attr, default in (("cell", None), ("parallel", 1), ("ranks", None), ("threads", None), ("versus", None)):
        if not hasattr(args, attr):
            setattr(args, attr, default)
    try:
        study = Study(args.study)
        clues = Clues(args)
        command = {"plan": cmd_plan, "run": cmd_run, "summarize": cmd_summarize, "summarise": cmd_summarize}
        return command[args.command](study, clues, args)
    except StudyError as e:
        fail(str(e))
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted; run it again to go on (finished cells are kept, started ones resume)\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
