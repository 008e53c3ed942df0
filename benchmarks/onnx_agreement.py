"""How far ONNX Runtime is from each backend on every example: the measurement behind docs/export.md.

    python benchmarks/onnx_agreement.py                  # every example (about 40 s on 2 cores)
    python benchmarks/onnx_agreement.py xor wide_and_deep

For each example, the model with dnnc's initial weights (the spec's seed) is
exported from the torch and the keras backend (``dnnc.export.export_onnx``,
opset 18, heads applied) and run by ONNX Runtime on the example's test rows
(else its validation rows, else 64 standard-normal rows); the table gives the
largest |ONNX Runtime − backend| over those rows and the outputs. Not a timing
benchmark; needs the data sets (``DNNC_DATA_DIR``) for the data rows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def check_rows(ir, spec: Path):
    from dnnc.export import random_rows
    from dnnc.runner.api import load_datasets

    try:
        data = load_datasets(ir, base_dir=spec.parent, download=False)
    except Exception as exc:  # a data set that is not on this machine: random rows, said in the table
        return random_rows(ir), f"64 random rows ({type(exc).__name__})"
    for split, name in ((data.test, "test"), (data.validation, "validation")):
        if split is not None and split.n:
            return dict(split.inputs), f"{split.n:,} {name} rows"
    return random_rows(ir), "64 random rows (no test or validation rows)"


def main(names: list[str]) -> None:
    from dnnc.compiler.compile import compile_spec
    from dnnc.compiler.initial_weights import initial_weights
    from dnnc.export import export_onnx
    from dnnc.runner.api import get_backend

    specs = {p.stem: p for p in sorted((ROOT / "examples").glob("*.toml"))}
    print("| example | check rows | torch | keras |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or list(specs):
            ir = compile_spec(specs[name])
            rows, kind = check_rows(ir, specs[name])
            cells = []
            for backend in ("torch", "keras"):
                seed = ir.training.seed if ir.training is not None else 0
                model = get_backend(backend, ir).build(ir, initial_weights(ir, seed))
                report = export_onnx(model, ir, Path(tmp) / "m.onnx", rows=rows, rows_kind=kind, tolerance=1.0)
                cells.append(f"{report.max_difference:.2g}")
            print(f"| {name} | {kind} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
