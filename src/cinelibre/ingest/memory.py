"""Fewer malloc arenas for the ingest process.

glibc gives a thread that allocates while another holds the main arena an arena of its own, up to eight per
core, and each keeps the memory it once held. The ingest run has a dozen threads that allocate (details
requests, one crawl per source, the writer embedding for all of them), which measured 40 MB of peak RSS more
with the default than with two arenas, and no faster (docs/benchmarks.md, issue 11). The Lambda handler (at
init), `cinelibre ingest` and the benchmark call `limit_malloc_arenas` before their threads start."""

from __future__ import annotations

import ctypes
import sys

# <malloc.h>: mallopt's parameter for the arena cap.
M_ARENA_MAX = -8
INGEST_MALLOC_ARENAS = 2


def limit_malloc_arenas(count: int = INGEST_MALLOC_ARENAS) -> bool:
    """Cap the arenas glibc creates from now on; False where there is no glibc `mallopt` (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, count))
