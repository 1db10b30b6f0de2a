"""Machine description and plain-text/Markdown tables for the benchmark output."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(work_dir: Path) -> dict[str, str]:
    """nproc, CPU model, memory, the disk under work_dir, kernel, date, tool versions."""
    model = ""
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name"):
            model = line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kib = int(fh.readline().split()[1])
        mem = f"{kib / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    work_dir.mkdir(parents=True, exist_ok=True)
    df = _run(["df", "-hT", str(work_dir)]).splitlines()
    disk = " ".join(df[-1].split()[:3]) if len(df) > 1 else ""
    if df:
        dev = df[-1].split()[0]
        rota = Path(f"/sys/block/{Path(dev).name.rstrip('0123456789')}/queue/rotational")
        if rota.exists():
            flag = rota.read_text().strip() == "1"
            disk += " (kernel: rotational)" if flag else " (kernel: non-rotational)"
    qemu = _run(["qemu-img", "--version"]).splitlines()
    wrk = shutil.which("wrk")
    return {
        "nproc": str(os.cpu_count() or ""),
        "cpu": model,
        "memory": mem,
        "disk": disk,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "qemu-img": qemu[0] if qemu else "missing",
        "wrk": (_run([wrk, "-v"]).splitlines() or [""])[0] if wrk else "missing",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def machine_lines(info: dict[str, str]) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in info.items())
