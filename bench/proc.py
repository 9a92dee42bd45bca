"""CPU time of processes from Linux's /proc, for the benchmarks."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    """The processes whose command name (``/proc/<pid>/comm``) is one of ``names``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU clock ticks of the whole machine so far (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


class Window:
    """The machine's busy share and the CPU of PostgreSQL's and the broker's processes
    over a window. Processes that start within it (new database connections) count
    whole; those that exit within it are not counted."""

    def __init__(self) -> None:
        self.start = machine_ticks()
        self.pg = {pid: cpu_seconds([pid]) for pid in pids_named("postgres")}
        self.broker = {pid: cpu_seconds([pid]) for pid in pids_named("java")}

    @staticmethod
    def _used(before: dict[int, float], name: str) -> float:
        return sum(cpu_seconds([pid]) - before.get(pid, 0.0) for pid in pids_named(name))

    def report(self, records: int) -> str:
        busy0, total0 = self.start
        pg, broker = self._used(self.pg, "postgres"), self._used(self.broker, "java")
        busy, total = machine_ticks()
        share = (busy - busy0) / max(total - total0, 1)
        return (
            f"machine busy {share:.0%}; PostgreSQL {pg / records * 1e6:.0f} us/record, "
            f"broker {broker / records * 1e6:.0f} us/record"
        )
