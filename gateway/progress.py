"""Progress through a long job, for people: a bar on a terminal, and elsewhere (a log file, CI, a
pipe) a plain line at every tenth of the way, since a bar there shows nothing until it ends. Both
say how fast it goes (items a second) and when it will end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

# Called with how much more of the total is done and how many items that was; no items: work
# found done already (a resumed import), left out of the speed.
Advance = Callable[[int, int], None]
Clock = Callable[[], float]


@contextmanager
def progress(
    total: int,
    label: str,
    out: TextIO | None = None,
    *,
    unit: str = "lines",
    clock: Clock = time.monotonic,
) -> Iterator[Advance]:
    """``total`` is the work's size (bytes of a file, say); each advance adds to it and to the
    count of ``unit`` done, whose rate is shown."""
    stream = sys.stderr if out is None else out
    rate = _Rate(total, unit, clock)
    if stream.isatty():
        with click.progressbar(length=total, label=label, file=stream, show_eta=True,
                               item_show_func=lambda shown: shown) as bar:  # fmt: skip

            def update(amount: int, items: int) -> None:
                rate.advance(amount, items)
                bar.update(amount, rate.speed())

            yield update
        return
    yield _Lines(label, stream, rate).advance


class _Rate:
    def __init__(self, total: int, unit: str, clock: Clock) -> None:
        self.total = total
        self.unit = unit
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.items = 0
        self.before = 0  # done already when it started

    def advance(self, amount: int, items: int) -> None:
        self.done += amount
        self.items += items
        if not items:
            self.before += amount

    def speed(self) -> str:
        elapsed = self.clock() - self.started
        per_second = self.items / elapsed if elapsed > 0 else 0.0
        return f"{per_second:,.0f} {self.unit}/s"

    def eta(self) -> str:
        elapsed = self.clock() - self.started
        done = self.done - self.before
        if done <= 0 or elapsed <= 0:
            return "?"
        left = max(self.total - self.done, 0) * elapsed / done
        return f"{left:,.0f} s"


class _Lines:
    STEPS = 10

    def __init__(self, label: str, out: TextIO, rate: _Rate) -> None:
        self.label = label
        self.out = out
        self.rate = rate
        self.shown = 0  # tenths written so far
        click.echo(f"{label}: 0%", file=out)

    def advance(self, amount: int, items: int) -> None:
        self.rate.advance(amount, items)
        total, done = self.rate.total, self.rate.done
        tenths = self.STEPS if total <= 0 else min(done * self.STEPS // total, self.STEPS)
        if tenths > self.shown:
            self.shown = tenths
            rate = self.rate
            click.echo(f"{self.label}: {tenths * 100 // self.STEPS}% ({rate.items:,} {rate.unit}, "
                       f"{rate.speed()}, ETA {rate.eta()})", file=self.out)  # fmt: skip
