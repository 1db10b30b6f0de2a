"""Measurements taken around one upload: a sampler thread (scratch bytes, RSS) and the
server CPU cost of one status poll."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from bench.client import Client
from bench.server import Server


class Sampler(threading.Thread):
    """Every 10 ms: bytes allocated in the service's scratch dirs and its VmRSS."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop_event = threading.Event()
        self.peak_alloc = 0
        self.peak_apparent = 0
        self.peak_rss = 0.0

    def sample(self) -> None:
        alloc = apparent = 0
        for d in self.server.scratch_dirs():
            stack = [d]
            while stack:
                try:
                    entries = list(os.scandir(stack.pop()))
                except OSError:
                    continue
                for e in entries:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(Path(e.path))
                        else:
                            st = e.stat(follow_symlinks=False)
                            alloc += st.st_blocks * 512
                            apparent += st.st_size
                    except OSError:
                        continue
        self.peak_alloc = max(self.peak_alloc, alloc)
        self.peak_apparent = max(self.peak_apparent, apparent)
        rss = self.server.rss_mib()
        if rss is not None:
            self.peak_rss = max(self.peak_rss, rss)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(0.01)
        self.sample()

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


POLL_COST: dict[int, float] = {}


def poll_cost(server: Server, client: Client, image_id: str, n: int = 200) -> float | None:
    """Server CPU seconds per GET /v2/images/{id}, measured once per server on an idle
    service: the share of "ours" that is the benchmark's own polling."""
    if server.pid not in POLL_COST:
        c0 = server.cpu_seconds()
        for _ in range(n):
            client.get_image(image_id)
        c1 = server.cpu_seconds()
        if c0 is None or c1 is None:
            return None
        POLL_COST[server.pid] = (c1 - c0) / n
    return POLL_COST[server.pid]
