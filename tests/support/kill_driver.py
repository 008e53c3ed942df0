"""Run the dnnc CLI in this process and SIGKILL it at a chosen moment (for the resume tests).

    python kill_driver.py KIND:N -- train spec.toml --backend torch --out RUN
    python kill_driver.py none -- resume RUN

KIND is where the process kills itself with ``kill -9`` (``os.kill(getpid(), SIGKILL)``, which
nothing can catch or clean up after), at the N-th occurrence in this process:

* ``train_step``: right after the backend's N-th training step returned (the weights are updated,
  the loop has not recorded the step yet);
* ``evaluate_step``: right after the N-th evaluation batch (validation or test);
* ``checkpoint``: during the N-th checkpoint write, after the temporary file is complete and before
  it is renamed over ``checkpoint.npz``;
* ``replace``: before the N-th atomic rename of any file (manifest, checkpoint, history, weights…);
* ``timer``: N/10 seconds after the first training step started.  In this mode every training step is
  slowed by 50 ms, so that a run of 36 steps lasts longer than the largest delay the tests draw (1.5 s)
  on any machine; the timer is a daemon thread, so a run that finishes first exits normally (status 0)
  instead of being killed after it completed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm_resident(kind: str, hit, started: threading.Event, n: int) -> None:
    """The same kill points on the resident path (dnnc.runner.resident): a chunk of K steps counts as K
    training steps, all of them done when the call returns; an evaluation call counts one per batch."""
    from dnnc.runner.resident import Residency

    train, evaluate = Residency.train_steps, Residency.evaluate

    def train_steps(self, chunk, *args, **kwargs):
        if kind == "timer" and not started.is_set():
            started.set()
            timer = threading.Timer(n / 10.0, _die)
            timer.daemon = True
            timer.start()
        result = train(self, chunk, *args, **kwargs)
        for _ in chunk:
            if kind == "timer":
                time.sleep(0.05)
            elif kind == "train_step":
                hit()
        return result

    def evaluate_batches(self, name, split, metrics, batches, prefix):
        result = evaluate(self, name, split, metrics, batches, prefix)
        for _ in batches:
            hit()
        return result

    Residency.train_steps = train_steps
    if kind == "evaluate_step":
        Residency.evaluate = evaluate_batches


def _arm(kind: str, n: int) -> None:
    from dnnc.runner import executor

    counts = {"n": 0}

    def hit() -> None:
        counts["n"] += 1
        if counts["n"] == n:
            _die()

    if kind in ("train_step", "evaluate_step", "timer"):
        original = getattr(executor.LocalExecutor, "train_step" if kind == "timer" else kind)
        started = threading.Event()

        def wrapped(self, *args, **kwargs):
            if kind == "timer":
                if not started.is_set():
                    started.set()
                    timer = threading.Timer(n / 10.0, _die)
                    timer.daemon = True
                    timer.start()
                result = original(self, *args, **kwargs)
                time.sleep(0.05)
                return result
            result = original(self, *args, **kwargs)
            hit()
            return result

        setattr(executor.LocalExecutor, "train_step" if kind == "timer" else kind, wrapped)
        _arm_resident(kind, hit, started, n)
    elif kind in ("checkpoint", "replace"):
        replace = os.replace

        def wrapped_replace(src, dst, *args, **kwargs):
            if kind == "replace" or os.path.basename(os.fspath(dst)) == "checkpoint.npz":
                hit()
            return replace(src, dst, *args, **kwargs)

        os.replace = wrapped_replace
    else:
        raise SystemExit(f"unknown kill point {kind!r}")


def main() -> None:
    point, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: kill_driver.py KIND:N -- dnnc arguments…"
    if point != "none":
        kind, _, n = point.partition(":")
        _arm(kind, int(n))
    from dnnc.cli.app import app

    app(args, prog_name="dnnc")


if __name__ == "__main__":
    main()
