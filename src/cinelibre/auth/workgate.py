"""A cap on concurrent bcrypt work per instance. Each check costs ~200 ms of a core at cost 12; without a cap
a flood of logins takes every worker thread and every core, and cheap routes wait behind it. Requests over the
cap wait on the event loop (holding no thread) for a short while, then get 503 with Retry-After."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from cinelibre.errors import OverloadedError
from cinelibre.observability import logger

T = TypeVar("T")


class HashingGate:
    def __init__(self, concurrency: int, queue_timeout_s: float) -> None:
        self.concurrency = concurrency
        self.queue_timeout_s = queue_timeout_s
        # A semaphore belongs to one event loop; Mangum and uvicorn each run one per process, tests several.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        return semaphore

    async def run(self, work: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run `work` (which hashes or checks a password) in the thread pool once a slot is free."""
        semaphore = self._semaphore()
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=self.queue_timeout_s)
        except TimeoutError:
            logger.warning("password hashing saturated", extra={"concurrency": self.concurrency})
            raise OverloadedError(
                "the server is busy checking passwords; try again shortly",
                retry_after_s=max(1.0, self.queue_timeout_s),
            ) from None
        try:
            return await run_in_threadpool(work, *args, **kwargs)
        finally:
            semaphore.release()
