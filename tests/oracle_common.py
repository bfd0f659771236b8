"""What the oracle tests (hf_oracle.py, merge_oracle.py) share: the offline settings for
transformers, the command line (clues binary, work folder made afresh), and the checks
that are counted and decide the exit status."""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded


def setup(prefix):
    """(CLUES binary, work folder) from argv: `script CLUES_BINARY [WORKDIR]`."""
    clues = sys.argv[1]
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix=prefix)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return clues, work


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def finish():
    """Exits 1 when any check failed, naming how many."""
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
