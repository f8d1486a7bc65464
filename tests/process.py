"""Run the real ``gateway`` command as a child process and read what it prints."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Process:
    """A command, its output (stdout and stderr) read line by line. With ``group``, it runs in a
    process group of its own, all of which ``stop`` stops (a shell and what it started)."""

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        group: bool = False,
    ) -> None:
        self.group = group
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=group,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        """The first line (from now on) that contains ``needle``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(
                    f"exited before printing {needle!r}:\n" + "\n".join(self.output)
                )
            self.output.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} within {timeout}s:\n" + "\n".join(self.output))

    def wait_for_end(self, timeout: float = 30) -> list[str]:
        """Every line (from now on) until the process has exited and its output ended."""
        deadline = time.monotonic() + timeout
        rest: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self.proc.wait(timeout=max(left, 1))
                return rest
            rest.append(line)
            self.output.append(line)
        raise AssertionError(f"output did not end within {timeout}s:\n" + "\n".join(self.output))

    def drain(self) -> list[str]:
        """Every line printed so far, without waiting for more."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return self.output
            if line is None:
                self._lines.put(None)  # the end stays for whoever waits next
                return self.output
            self.output.append(line)

    def next_line(self) -> str:
        line = self._lines.get(timeout=10)
        assert line is not None
        self.output.append(line)
        return line

    def stop(self) -> None:
        """SIGTERM (to the whole group, with ``group``), SIGKILL after 10 s."""
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()
        if self.group:  # the shell may be gone before what it started
            deadline = time.monotonic() + 10
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            self._signal(signal.SIGKILL)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _signal(self, number: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.group:
                os.killpg(self.proc.pid, number)
            else:
                self.proc.send_signal(number)


class GatewayProcess(Process):
    """``python -m gateway ARGS``."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        super().__init__([sys.executable, "-m", "gateway", *args], env=environment)


@contextmanager
def gateway(*args: str, env: dict[str, str] | None = None) -> Iterator[GatewayProcess]:
    process = GatewayProcess(*args, env=env)
    try:
        yield process
    finally:
        process.stop()


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
