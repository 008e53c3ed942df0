"""`dnnc export` (a trained model as an ONNX file, checked with ONNX Runtime, or as a torch.export program)
and `dnnc eject` (a spec as plain PyTorch or Keras source)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import UsageError, UserError, guarded
from .render import console

FORMATS = ("onnx", "pt2")


def _verification_rows(ir, manifest, data_dir: Optional[Path]):
    """(rows, what they are): the test rows of a run (else its validation rows); random rows for a model
    file that belongs to no run."""
    from ..export.onnx_export import random_rows, random_rows_description
    from ..runner.api import run_datasets

    if not manifest or ir.data is None:
        return random_rows(ir), f"{random_rows_description(ir)} (the model file belongs to no run, so it has no data)"
    datasets = run_datasets(ir, manifest, data_dir)
    for split, name in ((datasets.test, "test"), (datasets.validation, "validation")):
        if split is not None and split.n:
            return dict(split.inputs), f"{split.n:,} {name} rows"
    return random_rows(ir), f"{random_rows_description(ir)} (the run's data has no test or validation rows)"


def export(
    target: Path = typer.Argument(..., show_default=False, help="A run directory (its weights.npz), a checkpoint "
                                  "or weights.npz inside one, or a saved model file (.keras, .pt)."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="The file format: onnx, or pt2 (a torch.export "
                            "program, torch backend)."),
    out: Path = typer.Option(..., "--out", "-o", help="The file to write (model.onnx, model.pt2).",
                             show_default=False),
    logits: bool = typer.Option(False, "--logits", help="Export the logits instead of the predictions "
                                "(softmax/sigmoid heads applied)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Export with this backend instead of the "
                                          "run's own (the canonical weights are loaded into it)."),
    opset: int = typer.Option(18, "--opset", help="The ONNX opset (13…18)."),
    tolerance: float = typer.Option(1e-5, "--tolerance", help="Largest allowed |ONNX Runtime − backend| on the "
                                    "check rows."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory searched first for MNIST / "
                                            "Fashion-MNIST files (the check rows)."),
) -> None:
    """Export a trained model to ONNX with the framework's own exporter and check it against ONNX Runtime, or
    (--format pt2) to a torch.export program checked against the torch backend."""
    from ..export import OPSETS, ExportError, export_onnx, require_packages
    from ..runner.api import load_run_model
    from ..runner.errors import RunnerError

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not supported (allowed: {', '.join(FORMATS)})")
    if opset not in OPSETS:
        raise UsageError(f"--opset must be in {OPSETS.start}…{OPSETS.stop - 1} (received {opset})")
    if not tolerance >= 0:
        raise UsageError(f"--tolerance must be a number ≥ 0 (received {tolerance})")
    if fmt == "pt2":
        if backend not in (None, "torch"):
            raise UsageError(f"--format pt2 is a torch.export program: it is written by the torch backend "
                             f"(received --backend {backend})")
        if logits:
            raise UsageError("--format pt2 exports the model's graph as the torch backend runs it; --logits is "
                             "for --format onnx")
        _export_pt2(target, out, tolerance, data_dir)
        return
    try:
        if backend is not None:
            require_packages(backend)
        model, ir, manifest = load_run_model(target, backend)
        name = getattr(model, "backend_name", backend or "?")
        require_packages(name)
        rows, rows_kind = _verification_rows(ir, manifest, data_dir)
        with console.status(f"exporting {ir.name!r} from the {name} backend…"):
            report = export_onnx(model, ir, out, rows=rows, rows_kind=rows_kind, logits=logits, opset=opset,
                                 tolerance=tolerance)
    except (ExportError, RunnerError) as exc:
        raise UserError(str(exc)) from None
    what = "logits" if logits else "predictions (" + ", ".join(f"{o.name}: {o.head} head" for o in ir.outputs) + ")"
    console.print(f"wrote {report.path}: ONNX opset {report.opset} (IR version {report.ir_version}), model "
                  f"{ir.name!r} from the {name} backend, {what}", markup=False, highlight=False)
    console.print(f"  exporter: {report.exporter}", markup=False, highlight=False)
    for kind, value, dtype, dims in report.interface:
        console.print(f"  {kind} {value}: {dtype} [{', '.join(dims)}]", markup=False, highlight=False)
    console.print(f"[green]✓[/green] ONNX Runtime {report.onnxruntime} agrees with the {name} backend on the "
                  f"{report.rows_kind}: max |Δ| = {report.max_difference:.3g} (tolerance {report.tolerance:g})",
                  highlight=False)


def _export_pt2(target: Path, out: Path, tolerance: float, data_dir: Optional[Path]) -> None:
    """``dnnc export --format pt2``: the torch backend's :meth:`export_pt2`, reloaded with torch.export.load
    and checked against the backend on the run's test (else validation, else random) rows."""
    from ..backends.base import BackendError
    from ..runner.api import load_run_model
    from ..runner.errors import RunnerError

    if not out.name.endswith(".pt2"):
        raise UsageError(f"--format pt2 writes a .pt2 file (received --out {out})")
    try:
        model, ir, manifest = load_run_model(target, "torch")
        rows, rows_kind = _verification_rows(ir, manifest, data_dir)
        with console.status(f"exporting {ir.name!r} with torch.export…"):
            path = model.export_pt2(out)
            diff = _pt2_difference(model, ir, path, rows)
    except (BackendError, RunnerError) as exc:
        raise UserError(str(exc)) from None
    if not diff <= tolerance:
        raise UserError(f"{out}: the torch.export program disagrees with the torch backend on the {rows_kind}: "
                        f"max |Δ| = {diff:.3g} > tolerance {tolerance:g}")
    console.print(f"wrote {path}: torch.export program of model {ir.name!r} (batch axis dynamic; load it with "
                  f"torch.export.load(path).module())", markup=False, highlight=False)
    console.print(f"[green]✓[/green] the reloaded program agrees with the torch backend on the {rows_kind}: "
                  f"max |Δ| = {diff:.3g} (tolerance {tolerance:g})", highlight=False)


def _pt2_difference(model, ir, path: Path, rows, batch_size: int = 1024) -> float:
    """Largest |program − backend| over every output on `rows`: the backend's logits from
    :func:`~dnnc.runner.api.forward_in_batches`, the reloaded program's in the same batches."""
    import numpy as np
    import torch

    from ..runner.api import forward_in_batches

    program = torch.export.load(path).module()
    want = forward_in_batches(model, ir, rows, heads=False, batch_size=batch_size)
    dtypes = {name: np.int64 if ir.node(name).attrs.dtype == "int64" else np.float32 for name in ir.inputs}
    n = len(next(iter(rows.values())))
    largest = 0.0
    for start in range(0, n, batch_size):
        args = [torch.from_numpy(np.ascontiguousarray(rows[name][start:start + batch_size], dtypes[name]))
                for name in ir.inputs]
        with torch.no_grad():
            got = program(*args)
        got = got if isinstance(got, (tuple, list)) else (got,)
        for output, value in zip(ir.outputs, got):
            expected = want[output.name][start:start + batch_size]
            largest = max(largest, float(np.max(np.abs(value.detach().numpy() - expected))))
    return largest


def _weights_path(run: Path, ir) -> str:
    """The canonical weights of a run (a run directory, or a weights.npz / checkpoint in one), checked
    against the spec's model; the absolute path the ejected module loads."""
    from ..runner.errors import RunnerError
    from ..runner.records import IR_FILE, WEIGHTS, read_weights

    path = run / WEIGHTS if run.is_dir() else run
    if run.is_dir() and not (run / IR_FILE).is_file():
        raise UserError(f"{run} is not a dnnc run directory (no {IR_FILE})")
    if not path.is_file():
        raise UserError(f"{path} not found" + (": the run did not finish" if run.is_dir() else ""))
    try:
        read_weights(path, ir)
    except RunnerError as exc:
        raise UserError(f"{exc} (the spec compiles to model {ir.name!r}; --weights needs a run of that spec)") from None
    return str(path.resolve())


def eject(
    spec: Path = typer.Argument(..., help="The spec file (.toml or .json).", show_default=False),
    to: str = typer.Option(..., "--to", help="The framework: torch or keras."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The module to write (default: print it)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A run directory (or its weights.npz) whose "
                                           "canonical weights build_model() loads."),
) -> None:
    """Write a spec as one readable PyTorch or Keras module (no dnnc import): model, optimizer, data, training."""
    from ..compiler.compile import compile_spec
    from ..eject import FRAMEWORKS, EjectError, eject_source

    if to not in FRAMEWORKS:
        raise UsageError(f"--to {to!r} is not supported (allowed: {', '.join(FRAMEWORKS)})")
    ir = compile_spec(spec)
    path = None if weights is None else _weights_path(weights, ir)
    try:
        text = eject_source(ir, to, source=spec.as_posix(), weights=path)
    except EjectError as exc:
        raise UserError(f"{spec}: {exc}") from None
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}: model {ir.name!r} as plain {to} ({text.count(chr(10)):,} lines"
                  + (f"; loads {path}" if path else "") + ")", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    for command in (export, eject):
        app.command()(guarded(command))
