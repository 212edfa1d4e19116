"""A process's many lives: started again and again, killed each time (SIGKILL at a random
instant, or at a named failpoint), and a context that stops a long-running one cleanly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def kill_lives(cmd: list[str], cwd: Path, kills: int, targets: tuple[str, ...],
               rng: random.Random, env: dict | None = None) -> tuple[int, list[str]]:
    """Run `cmd` until it has died `kills` times: every third life with the next of
    `targets` armed (DERIVBOT_FAILPOINTS: it kills itself there), the others SIGKILLed
    after 1–2.5 s. Returns the kills and the failpoints that fired; stops early when a life
    ends by itself (exit 0: the market data ran out). Any other exit fails, with its log."""
    done, lives, fired = 0, 0, []
    env = env or os.environ.copy()
    while done < kills:
        target = targets[(lives // 3) % len(targets)] if lives % 3 == 2 else ""
        lives += 1
        err = cwd / f"life-{lives}.err"
        with err.open("w") as sink:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=sink,
                                    env=env | {"DERIVBOT_FAILPOINTS": target})
        try:
            code = proc.wait(timeout=15.0 if target else rng.uniform(1.0, 2.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done += 1
            continue
        if code == 0:
            break
        assert code == -signal.SIGKILL, f"exit {code} ({target}): {err.read_text()[-3000:]}"
        done += 1
        fired.append(target)
    return done, fired


@contextmanager
def running(cmd: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen]:
    """`cmd` in the background, its output in `log`; stopped with SIGINT (Ctrl-C) at the
    end, which must end it with exit 0."""
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
                                env=os.environ.copy())
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]
