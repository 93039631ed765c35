"""The evaluation files shipped in ``benchmarks/data`` and their fixed development splits.

See ``benchmarks/data/README.md`` for their sources, licences and the held-out records.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
NQ_OPEN_ORACLE = DATA_DIR / "nq-open-oracle.jsonl.gz"
GOOGLE_SENTENCES = DATA_DIR / "google-sentence-compression-test.jsonl"
NQ_DEV_RECORDS = 2000          # records 0..1999; 2000..2654 are held out
GOOGLE_DEV_RECORDS = 700       # records 0..699; 700..999 are held out


def require_file(path: Path, option: str | None = None) -> Path:
    """``path`` if it is a file; otherwise exit with a message saying how to supply it."""
    if not Path(path).is_file():
        how = f"pass {option} PATH to read another copy" if option else \
            "restore it with `git checkout -- benchmarks/data`"
        raise SystemExit(f"data file not found: {path}. The repository ships it in "
                         f"benchmarks/data/; {how}.")
    return Path(path)
