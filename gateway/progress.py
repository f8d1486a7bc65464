"""Progress through a long job, for people: a bar on a terminal, and elsewhere (a log file, CI, a
pipe) a plain line at every tenth of the way, since a bar there shows nothing until it ends."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

Advance = Callable[[int], None]  # called with how much more is done


@contextmanager
def progress(total: int, label: str, out: TextIO | None = None) -> Iterator[Advance]:
    stream = sys.stderr if out is None else out
    if stream.isatty():
        with click.progressbar(length=total, label=label, file=stream) as bar:
            yield bar.update
        return
    yield _Lines(total, label, stream).advance


class _Lines:
    STEPS = 10

    def __init__(self, total: int, label: str, out: TextIO) -> None:
        self.total = total
        self.label = label
        self.out = out
        self.done = 0
        self.shown = 0  # tenths written so far
        click.echo(f"{label}: 0%", file=out)

    def advance(self, amount: int) -> None:
        self.done += amount
        tenths = self.STEPS if self.total <= 0 else min(self.done * self.STEPS // self.total,
                                                        self.STEPS)  # fmt: skip
        if tenths > self.shown:
            self.shown = tenths
            click.echo(f"{self.label}: {tenths * 100 // self.STEPS}%", file=self.out)
