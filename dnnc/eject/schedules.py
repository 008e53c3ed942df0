"""The learning-rate function of an ejected module, written out for the spec's schedule (plain Python).

The same formulas as :mod:`dnnc.numerics.schedules` (Keras 3's), with the
spec's values in place; both frameworks' modules use it (the torch loop sets
the rate before every step; the Keras module uses Keras's own schedule classes
instead, :mod:`.keras_module`).
"""

from __future__ import annotations

from typing import Any, Mapping

from .code import py


def learning_rate_function(lr: float | Mapping[str, Any]) -> list[str]:
    """``def learning_rate_at(step)`` for an optimizer IR's ``learning_rate``."""
    head = ["def learning_rate_at(step):"]
    if not isinstance(lr, Mapping):
        return head + ['    """The learning rate of update `step` (0-based): constant."""', f"    return {py(float(lr))}"]
    s = dict(lr)
    kind = s["type"]
    doc = f'    """The learning rate of update `step` (0-based): {kind}, Keras 3\'s formula."""'
    if kind == "exponential_decay":
        body = [f"    p = step / {s['decay_steps']}"]
        if s["staircase"]:
            body.append("    p = math.floor(p)  # staircase")
        body.append(f"    return {py(float(s['initial_learning_rate']))} * {py(float(s['decay_rate']))} ** p")
    elif kind == "inverse_time_decay":
        body = [f"    p = step / {s['decay_steps']}"]
        if s["staircase"]:
            body.append("    p = math.floor(p)  # staircase")
        body.append(f"    return {py(float(s['initial_learning_rate']))} / (1.0 + {py(float(s['decay_rate']))} * p)")
    elif kind == "piecewise_constant":
        body = [
            f"    boundaries = {py([int(b) for b in s['boundaries']])}",
            f"    values = {py([float(v) for v in s['values']])}",
            "    # values[i] for boundaries[i - 1] < step <= boundaries[i]",
            "    return values[bisect.bisect_left(boundaries, step)]",
        ]
    elif kind == "cosine_decay":
        body = [
            f"    fraction = min(step, {s['decay_steps']}) / {s['decay_steps']}",
            "    cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))",
            f"    alpha = {py(float(s['alpha']))}",
            f"    return {py(float(s['initial_learning_rate']))} * ((1.0 - alpha) * cosine + alpha)",
        ]
    elif kind == "polynomial_decay":
        ds = s["decay_steps"]
        if s["cycle"]:
            body = [
                f"    period = {ds} * (1 if step == 0 else math.ceil(step / {ds}))",
                "    p = step / period",
            ]
        else:
            body = [f"    p = min(step, {ds}) / {ds}"]
        init, end = float(s["initial_learning_rate"]), float(s["end_learning_rate"])
        body.append(f"    return ({py(init)} - {py(end)}) * (1.0 - p) ** {py(float(s['power']))} + {py(end)}")
    else:
        raise ValueError(f"unknown learning-rate schedule {kind!r}")
    return head + [doc] + body
