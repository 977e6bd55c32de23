"""A Linux cgroup shaped like one Lambda execution environment: a CPU quota at the share of a vCPU that a
memory size buys (memory / 1,769 MB; a full vCPU at 1,769 MB), and that memory as a hard limit.

Used by bench/lambda_share.py. cgroup v1 (the `cpu`, `cpuacct` and `memory` hierarchies) or v2 (a unified
hierarchy with the cpu and memory controllers enabled). Each group is made under the cgroup this process
already belongs to in each hierarchy, so whatever limits the machine puts on this process keep applying.

    group = LambdaCgroup.create(memory_mb=512)   # raises CgroupUnavailable(reason) when it cannot
    subprocess.Popen(..., preexec_fn=group.enter)  # the child joins before it execs: all of it is measured
    group.cpu_seconds(), group.peak_memory_bytes(), group.throttled()
    group.remove()
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Lambda: "at 1,769 MB, a function has the equivalent of one vCPU" (AWS Lambda developer guide, memory).
MB_PER_VCPU = 1769
PERIOD_US = 100_000
MAX_SHARES_V1 = 262_144
MAX_WEIGHT_V2 = 10_000


class CgroupUnavailable(RuntimeError):
    """Why no Lambda-shaped cgroup can be made here (not root, no cgroup file system, no controller)."""


def vcpu_share(memory_mb: int) -> float:
    return memory_mb / MB_PER_VCPU


def _own_paths() -> dict[str, str]:
    """This process's cgroup path in each hierarchy: {"cpu": "/", "memory": "/x/y", "": "/"} ("" is v2)."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


@dataclass
class LambdaCgroup:
    memory_mb: int
    cpu_dir: Path
    cpuacct_dir: Path
    memory_dir: Path
    version: int

    @property
    def share(self) -> float:
        return vcpu_share(self.memory_mb)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if os.geteuid() != 0:
            return "needs root: only root may create cgroups and move processes into them"
        if not Path("/proc/self/cgroup").is_file() or not CGROUP_ROOT.is_dir():
            return "no cgroup file system at /sys/fs/cgroup (Linux only)"
        v1 = all((CGROUP_ROOT / c / "cgroup.procs").is_file() for c in ("cpu", "cpuacct", "memory"))
        if v1 and (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").is_file():
            return None
        unified = CGROUP_ROOT / "cgroup.controllers"
        if unified.is_file() and {"cpu", "memory"} <= set(unified.read_text().split()):
            return None
        return "neither cgroup v1 cpu/cpuacct/memory hierarchies nor a v2 hierarchy with cpu and memory"

    @classmethod
    def create(cls, memory_mb: int, *, name: str | None = None) -> LambdaCgroup:
        reason = cls.unavailable_reason()
        if reason:
            raise CgroupUnavailable(reason)
        name = name or f"cinelibre-lambda-{memory_mb}mb-{uuid.uuid4().hex[:8]}"
        paths = _own_paths()
        quota_us = round(vcpu_share(memory_mb) * PERIOD_US)
        limit = memory_mb * 1024 * 1024
        try:
            if (CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").is_file():
                dirs = {c: CGROUP_ROOT / c / paths.get(c, "/").lstrip("/") / name for c in ("cpu", "cpuacct", "memory")}
                for folder in dirs.values():
                    folder.mkdir()
                group = cls(memory_mb, dirs["cpu"], dirs["cpuacct"], dirs["memory"], version=1)
                (group.cpu_dir / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                # Above one vCPU Lambda gives more than one core; the quota then spans several.
                (group.cpu_dir / "cpu.cfs_quota_us").write_text(str(quota_us))
                # Lambda guarantees the share; other load on this machine must not take it away. The highest weight
                # makes the group win the CPU up to its quota (and never beyond: the quota still caps it).
                (group.cpu_dir / "cpu.shares").write_text(str(MAX_SHARES_V1))
                (group.memory_dir / "memory.limit_in_bytes").write_text(str(limit))
                # Lambda has no swap: over the limit the function dies, it does not page.
                swap_limit = group.memory_dir / "memory.memsw.limit_in_bytes"
                if swap_limit.exists():
                    swap_limit.write_text(str(limit))
                (group.memory_dir / "memory.swappiness").write_text("0")
            else:
                folder = CGROUP_ROOT / paths.get("", "/").lstrip("/") / name
                folder.mkdir()
                group = cls(memory_mb, folder, folder, folder, version=2)
                (folder / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
                (folder / "cpu.weight").write_text(str(MAX_WEIGHT_V2))
                (folder / "memory.max").write_text(str(limit))
                if (folder / "memory.swap.max").exists():
                    (folder / "memory.swap.max").write_text("0")
        except OSError as exc:
            raise CgroupUnavailable(f"cannot set up a cgroup here: {exc}") from exc
        return group

    def _dirs(self) -> list[Path]:
        return list(dict.fromkeys([self.cpu_dir, self.cpuacct_dir, self.memory_dir]))

    def enter(self) -> None:
        """Move the calling process into the group (as a Popen preexec_fn: the child, before it execs)."""
        pid = str(os.getpid())
        for folder in self._dirs():
            with (folder / "cgroup.procs").open("w") as procs:
                procs.write(pid)

    def add(self, pid: int) -> None:
        for folder in self._dirs():
            (folder / "cgroup.procs").write_text(str(pid))

    def cpu_seconds(self) -> float:
        """CPU time used by every process that has been in the group (user + system)."""
        if self.version == 1:
            return int((self.cpuacct_dir / "cpuacct.usage").read_text()) / 1e9
        return self._cpu_stat()["usage_usec"] / 1e6

    def _cpu_stat(self) -> dict[str, int]:
        lines = (self.cpu_dir / "cpu.stat").read_text().splitlines()
        return {key: int(value) for key, value in (line.split() for line in lines)}

    def throttled(self) -> tuple[int, int, float]:
        """(periods, periods throttled, seconds throttled) so far."""
        stat = self._cpu_stat()
        if self.version == 1:
            return stat["nr_periods"], stat["nr_throttled"], stat["throttled_time"] / 1e9
        return stat["nr_periods"], stat["nr_throttled"], stat["throttled_usec"] / 1e6

    def peak_memory_bytes(self) -> int:
        """The group's peak memory (resident memory plus page cache it caused), since creation or reset."""
        if self.version == 1:
            return int((self.memory_dir / "memory.max_usage_in_bytes").read_text())
        peak = self.memory_dir / "memory.peak"
        return int(peak.read_text()) if peak.exists() else int((self.memory_dir / "memory.current").read_text())

    def memory_events(self) -> int:
        """How many times the group hit its memory limit."""
        if self.version == 1:
            return int((self.memory_dir / "memory.failcnt").read_text())
        events = dict(line.split() for line in (self.memory_dir / "memory.events").read_text().splitlines())
        return int(events.get("max", 0))

    def reset_peaks(self) -> None:
        if self.version == 1:
            (self.memory_dir / "memory.max_usage_in_bytes").write_text("0")

    def remove(self) -> None:
        """Remove the group. Only the harness's own runner processes are ever in it: any still there (the
        harness was interrupted) are ended first, by pid, so the group can go."""
        for line in (self.cpu_dir / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (self.cpu_dir / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        for folder in self._dirs():
            with contextlib.suppress(FileNotFoundError):
                folder.rmdir()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name (field 2) may hold spaces; the parent pid is the second field after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@dataclass
class PriorityCgroup:
    """A CPU group with the highest weight and no quota, for the database that stands in for a remote one:
    its latency should come from its own work, not from the other load on the machine."""

    cpu_dir: Path

    @classmethod
    def around(cls, pid: int, name: str = "cinelibre-database") -> PriorityCgroup:
        paths = _own_paths()
        if (CGROUP_ROOT / "cpu" / "cpu.shares").is_file():
            folder = CGROUP_ROOT / "cpu" / paths.get("cpu", "/").lstrip("/") / f"{name}-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            (folder / "cpu.shares").write_text(str(MAX_SHARES_V1))
        else:
            folder = CGROUP_ROOT / paths.get("", "/").lstrip("/") / f"{name}-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            (folder / "cpu.weight").write_text(str(MAX_WEIGHT_V2))
        group = cls(folder)
        # The server and the processes it has started; those it starts later are born in the group.
        pending = [pid]
        while pending:
            current = pending.pop()
            with contextlib.suppress(OSError):
                (folder / "cgroup.procs").write_text(str(current))
            pending.extend(_children(current))
        return group

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.cpu_dir.rmdir()
