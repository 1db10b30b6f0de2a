"""Benchmarks: `python -m bench.upload` (data path against same-run floors) and
`python -m bench.api` (wrk load test). Scratch files go to bench/work/ (gitignored).
See docs/benchmarks.md."""

from pathlib import Path

WORK_DIR = Path(__file__).resolve().parent / "work"
REPO_DIR = Path(__file__).resolve().parent.parent
MiB = 1 << 20
GiB = 1 << 30
