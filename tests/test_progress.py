"""Progress through a long job: a bar with the rate and an ETA on a terminal, a line at every tenth
elsewhere; work found done already (a resumed import) counts toward the total, not the rate."""

from __future__ import annotations

import io

from gateway.progress import progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_elsewhere_say_the_rate_and_when_it_ends() -> None:
    out, clock = io.StringIO(), Clock()
    with progress(1000, "importing h.jsonl", out, clock=clock) as advance:
        advance(400, 0)  # done before: a resumed import
        clock.now += 2
        advance(300, 3000)
    assert out.getvalue().splitlines() == [
        "importing h.jsonl: 0%",
        "importing h.jsonl: 40% (0 lines, 0 lines/s, ETA ?)",
        "importing h.jsonl: 70% (3,000 lines, 1,500 lines/s, ETA 2 s)",
    ]


def test_a_terminal_gets_a_bar_with_the_rate() -> None:
    out, clock = Terminal(), Clock()
    with progress(1000, "importing h.jsonl", out, clock=clock) as advance:
        clock.now += 2
        advance(500, 5000)
    shown = out.getvalue()
    assert "importing h.jsonl" in shown
    assert "2,500 lines/s" in shown
