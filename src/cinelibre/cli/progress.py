"""Progress bars for the long local commands (train, evaluate), fed by the core package's
`progress(step, done, total)` callbacks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm


class StepProgress:
    """One bar per step of a job (loading, each training step, ranking), each replacing the last."""

    def __init__(self, *, units: dict[str, str] | None = None) -> None:
        self.units = units or {}
        self.step: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        # tqdm comes with the `local` extra; imported here so a plain install still runs every other command.
        from tqdm import tqdm

        bar = self.bar
        if step != self.step or bar is None:
            self.close()
            bar = tqdm(total=total or None, desc=step, unit=self.units.get(step, "step"))
            self.step, self.bar = step, bar
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
