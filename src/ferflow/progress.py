"""Progress reporting: a bar on a terminal, plain periodic lines in CI logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def is_interactive() -> bool:
    return sys.stderr.isatty()


class Progress:
    """Count work done; draw a tqdm bar on a TTY, otherwise print a line every `every_s` seconds."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", every_s: float = 10.0):
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.done = 0
        self._start = self._last = time.monotonic()
        self._bar = (
            tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr)
            if is_interactive()
            else None
        )

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            print(self._line(now), file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total is not None else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return f"{self.desc}: {self.done}{of} {self.unit}{pct}, {rate:.1f} {self.unit}/s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            print(self._line(time.monotonic()) + " - done", file=sys.stderr, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], total: int | None, desc: str, unit: str = "it") -> Iterator[T]:
    """Iterate over `items`, reporting progress."""
    with Progress(total, desc, unit) as progress:
        for item in items:
            yield item
            progress.update()
