"""What `dnnc tune` shows while it runs: trial i of N, its epoch, the best so far.

Workers send plain-dict events (in-process: a function call; with ``--workers N``:
a multiprocessing queue drained by the parent):

* ``{"event": "trial_start", "trial": number, "ordinal": i, "params": {...}}``
* ``{"event": "epoch", "trial": number, "ordinal": i, "epoch": e, "epochs": E, "value": v}``
* ``{"event": "trial_end", "trial": number, "ordinal": i, "state": "COMPLETE", "value": v, "reason": text}``
* ``{"event": "message", "text": text, "level": "warning"}``, ``{"event": "error", "worker": w, "text": text}``

:class:`TuneDisplay` prints one line per finished trial and, on a terminal, a
live status line per running trial (``trial 4/20 #17  epoch 12/50  val_loss
0.3512  │ best 0.2811 (#9)``).
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.markup import escape

from ..runner.progress import format_value


class TuneDisplay:
    """Renders worker events on a rich console."""

    def __init__(self, console, *, total: int, metric: str, direction: str, best: tuple[float, int] | None = None,
                 quiet: bool = False) -> None:
        self.console = console
        self.total = total
        self.metric = metric
        self.direction = direction
        self.best = best
        self.quiet = quiet
        self.running: dict[int, str] = {}
        self.counts: dict[str, int] = {}
        self._live = None
        self._started = time.perf_counter()

    # -- events -----------------------------------------------------------------
    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "trial_start":
            params = "  ".join(f"{k}={_short(v)}" for k, v in event["params"].items())
            self.running[event["trial"]] = f"{self._head(event)}  starting  {params}"
        elif kind == "epoch":
            self.running[event["trial"]] = (f"{self._head(event)}  epoch {event['epoch']}/{event['epochs']}  "
                                            f"{self.metric} {format_value(_num(event['value']))}")
        elif kind == "trial_end":
            self.running.pop(event["trial"], None)
            self._finished(event)
        elif kind == "message":
            self._print(f"[yellow]{event.get('level', 'info')}[/yellow]: {escape(event['text'])}")
        elif kind == "error":
            self._print(f"[red]error[/red] (worker {event.get('worker', '?')}): {escape(event['text'])}")
        elif kind == "info":
            self._print(escape(event["text"]))
        self._refresh()

    def _head(self, event: dict[str, Any]) -> str:
        return f"trial {event.get('ordinal', '?')}/{self.total} #{event['trial']}"

    def _finished(self, event: dict[str, Any]) -> None:
        state = event["state"]
        self.counts[state] = self.counts.get(state, 0) + 1
        value = _num(event.get("value"))
        if state == "COMPLETE" and value is not None and math.isfinite(value):
            better = self.best is None or (value < self.best[0] if self.direction == "minimize" else value > self.best[0])
            if better:
                self.best = (value, event["trial"])
        colour = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(state, "white")
        line = f"{self._head(event)}  [{colour}]{state.lower()}[/{colour}]"
        if value is not None:
            line += f"  {self.metric} {format_value(value)}"
        if event.get("reason"):
            line += f"  ({escape(str(event['reason']))})"
        line += f"  │ best {self._best_text()}"
        if self.quiet:
            return
        self._print(line)

    def _best_text(self) -> str:
        if self.best is None:
            return "-"
        return f"{format_value(self.best[0])} (#{self.best[1]})"

    # -- output -----------------------------------------------------------------
    def _print(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, soft_wrap=True)
        else:
            self.console.print(text, soft_wrap=True)

    def _refresh(self) -> None:
        if self.quiet or not getattr(self.console, "is_interactive", False):
            return
        from rich.live import Live
        from rich.text import Text

        lines = [f"{text}  │ best {self._best_text()}" for _, text in sorted(self.running.items())]
        body = Text("\n".join(lines))
        if self._live is None:
            if not lines:
                return
            self._live = Live(body, console=self.console, transient=True, auto_refresh=False)
            self._live.start()
        self._live.update(body, refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._started


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 30 else text[:29] + "…"


__all__ = ["TuneDisplay"]
