"""The structure level: every backend builds the same model.

For each backend, built from the same canonical initial weights:

* **IR (JSON)** — the model keeps exactly the compiled IR (``model.ir.to_json()``
  equals the IR's JSON);
* **weights round trip** — ``get_weights()`` gives back, bit for bit, the
  weights that were loaded (keys, shapes, values);
* **parameter count** — the framework's own ``layer_param_counts()`` equals the
  IR's (trainable, non-trainable) count for every node, and names no other node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..compiler.ir import ModelIR
from .options import ConformOptions, ProgressSink, unsupported_check
from .results import FAIL, PASS, Check, LevelResult

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend, CompiledModel

LEVEL = "structure"


def ir_difference(a: ModelIR, b: ModelIR) -> str:
    """Where two IRs first differ, in words."""
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    for key in db:
        if da.get(key) != db.get(key):
            if key == "nodes":
                for na, nb in zip(da["nodes"], db["nodes"]):
                    if na != nb:
                        fields = [k for k in nb if na.get(k) != nb.get(k)]
                        return f"the backend's IR differs at node {nb['name']!r} ({', '.join(fields)})"
            return f"the backend's IR differs in {key!r}"
    return "the backend's IR serialises differently"


def model_checks(ir: ModelIR, model: "CompiledModel", weights: Mapping[str, np.ndarray], name: str) -> list[Check]:
    """The structure checks of one built model against the IR and the weights it was built with."""
    checks: list[Check] = []
    same = model.ir.to_json() == ir.to_json()
    checks.append(Check(LEVEL, "IR (JSON)", name, "IR", PASS if same else FAIL, target=ir.name,
                        detail="" if same else ir_difference(model.ir, ir)))
    got = model.get_weights()
    missing, unknown = sorted(set(weights) - set(got)), sorted(set(got) - set(weights))
    if missing or unknown:
        checks.append(Check(LEVEL, "weights round trip", name, "IR", FAIL,
                            detail=f"get_weights() keys differ: missing {missing or 'none'}, unknown {unknown or 'none'}"))
    else:
        for key in weights:
            a, b = np.asarray(got[key]), np.asarray(weights[key], dtype=np.float32)
            if a.shape != b.shape:
                checks.append(Check(LEVEL, "weights round trip", name, "IR", FAIL, key, list(a.shape), list(b.shape),
                                    detail="the shape differs"))
                continue
            err = float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0
            checks.append(Check(LEVEL, "weights round trip", name, "IR", PASS if err == 0 else FAIL, key,
                                error=err, tolerance=0.0, norm="max|Δ|"))
    return checks + param_count_checks(ir, model.layer_param_counts(), name)


def param_count_checks(ir: ModelIR, counts: Mapping[str, tuple[int, int]], name: str) -> list[Check]:
    """The framework's own per-node (trainable, non-trainable) counts against the IR's, one check per node (and
    one for nodes the IR does not have).  `dnnc build` uses these checks too."""
    checks = []
    for node in ir.nodes:
        expected = (node.trainable_count, node.non_trainable_count)
        count = counts.get(node.name)
        got_count = None if count is None else (int(count[0]), int(count[1]))
        ok = got_count == expected
        detail = "" if ok else ("(trainable, non-trainable) counted by the framework vs the IR"
                                + ("" if got_count else f"; {name} reports no count for this layer"))
        checks.append(Check(LEVEL, "parameter count", name, "IR", PASS if ok else FAIL, node.name,
                            list(got_count) if got_count else None, list(expected), detail=detail))
    extra = sorted(set(counts) - {n.name for n in ir.nodes})
    if extra:
        checks.append(Check(LEVEL, "parameter count", name, "IR", FAIL, ", ".join(extra),
                            detail="the framework reports layers the IR does not have"))
    return checks


def structure_level(ir: ModelIR, backends: Sequence["Backend"], weights: Mapping[str, np.ndarray],
                    options: ConformOptions = ConformOptions(), progress: ProgressSink | None = None) -> LevelResult:
    """Build the IR with every backend and check each model against the IR."""
    progress = progress or ProgressSink()
    result = LevelResult(LEVEL, data={"reference": "IR"})
    task = progress.start("structure: building every backend's model", total=len(backends))
    for backend in backends:
        skip = unsupported_check(LEVEL, backend, "IR", ir, options.unsupported)
        if skip is not None:
            result.checks.append(skip)
        else:
            try:
                model = backend.build(ir, weights)
            except Exception as exc:
                result.checks.append(Check(LEVEL, "build", backend.name, "IR", FAIL,
                                           detail=f"building the model raised {type(exc).__name__}: {exc}"))
            else:
                result.checks.extend(model_checks(ir, model, weights, backend.name))
        progress.advance(task)
    progress.finish(task)
    return result
