"""`dnnc build` and `dnnc convert`: native artifacts from a spec, and between backends."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.markup import escape

from .errors import UsageError, UserError, guarded
from .render import console, err_console, summary_table, totals_lines


def backend_for_artifact(path: Path):
    """The backend whose artifact suffix matches the file."""
    from ..plugins.manager import get_registry

    registry = get_registry()
    for backend in registry.backends.values():
        if path.name.endswith(backend.artifact_suffix):
            return registry.available_backend(backend.name)
    known = ", ".join(f"{b.artifact_suffix} ({n})" for n, b in sorted(registry.backends.items()))
    raise UserError(f"cannot tell which backend wrote {path} (known artifact suffixes: {known})")


def _count_problem(check) -> str:
    """One line per node: what the framework counted and what the IR says."""
    if check.expected is None:
        return f"{check.target}: {check.detail}"
    want = check.expected
    got = f"{check.value[0]:,} trainable / {check.value[1]:,} non-trainable" if check.value else "no count"
    return f"{check.target}: framework counts {got}, IR {want[0]:,} / {want[1]:,}"


def random_inputs(ir, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal features, uniform ids for token inputs."""
    from ..conformance.batches import make_inputs

    return make_inputs(ir, n, seed)


def build(
    spec: Path = typer.Argument(..., help="The spec file (.toml or .json).", show_default=False),
    backend: str = typer.Option(..., "--backend", "-b", help="Backend to build with (see `dnnc backends`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Artifact path (default build/<name>/model<suffix>)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the initial weights (default: the spec's training seed)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print the framework's summary."),
) -> None:
    """Compile a spec with one backend, print the framework's own summary, and save a native artifact."""
    from ..compiler.compile import compile_spec
    from ..compiler.source import load_source
    from ..runner.api import get_backend, starting_weights
    from ..runner.errors import RunnerError
    from ..runner.resources import check_memory
    from ..spec_schema.training import MAX_SEED

    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be in 0…{MAX_SEED} (received {seed})")
    source = load_source(spec)
    ir = compile_spec(source)
    be = get_backend(backend, ir)
    check_memory(ir, "build")
    try:
        weights, transfer = starting_weights(ir, source.path.resolve().parent, source, seed=seed)
    except RunnerError as exc:
        raise UserError(str(exc)) from None
    if transfer is not None:
        for line in transfer.lines():
            console.print(line, markup=False, highlight=False)
    with console.status(f"building {ir.name!r} with {backend}…"):
        model = be.build(ir, weights)
    counts = model.layer_param_counts()
    if not quiet:
        console.print(model.summary(), markup=False, highlight=False)
        console.print(summary_table(ir, counts, title=f"{backend}: parameters per IR node (framework's own count)"))
    trainable = sum(c[0] for c in counts.values())
    frozen = sum(c[1] for c in counts.values())
    for line in totals_lines(trainable, frozen):
        console.print(line)
    from ..conformance.structure import param_count_checks

    problems = [c for c in param_count_checks(ir, counts, backend) if not c.passed]
    if problems:
        raise UserError(f"backend {backend!r} built a model whose parameter counts differ from the IR's:\n  "
                        + "\n  ".join(_count_problem(c) for c in problems))
    console.print(f"[green]✓[/green] parameter counts equal the IR's ({ir.param_count:,})")
    path = out or Path("build") / ir.name / f"model{be.artifact_suffix}"
    if not path.name.endswith(be.artifact_suffix):
        raise UserError(f"the {backend} backend writes {be.artifact_suffix} files (received {path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    for written in model.save(path):
        console.print(f"wrote {written}")
    export_pt2 = getattr(model, "export_pt2", None)  # the torch backend's torch.export program, best effort here
    if export_pt2 is not None:
        from ..backends.base import BackendError

        try:
            console.print(f"wrote {export_pt2(path.with_suffix('.pt2'))}")
        except BackendError as exc:
            err_console.print(f"[yellow]warning[/yellow]: {escape(str(exc))}; {escape(path.name)} holds the full model",
                              highlight=False)


def convert(
    source: Path = typer.Argument(..., help="A saved model (.keras, .pt, … as written by `dnnc build`/`train`).", show_default=False),
    to: str = typer.Option(..., "--to", help="Target backend."),
    out: Path = typer.Option(..., "--out", "-o", help="Target artifact path."),
    tolerance: float = typer.Option(1e-5, help="Largest allowed absolute difference of the outputs."),
) -> None:
    """Move a saved model to another backend (weights in the canonical layout) and check its predictions."""
    if not source.exists():
        raise UserError(f"no such file: {source}")
    from ..runner.api import get_backend

    src_backend = backend_for_artifact(source)
    src = src_backend.load(source)
    dst_backend = get_backend(to, src.ir)
    dst = dst_backend.build(src.ir, src.get_weights())
    x = random_inputs(src.ir)
    a, b = src.forward(x), dst.forward(x)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    if diff > tolerance:
        raise UserError(f"converted model disagrees with the source: max |Δoutput| = {diff:.3g} > {tolerance:g}")
    if not out.name.endswith(dst_backend.artifact_suffix):
        raise UserError(f"the {to} backend writes {dst_backend.artifact_suffix} files (received {out})")
    out.parent.mkdir(parents=True, exist_ok=True)
    for written in dst.save(out):
        console.print(f"wrote {written}")
    console.print(f"[green]✓[/green] {src_backend.name} → {to}: max |Δoutput| = {diff:.2g} on random inputs")


def register(app: typer.Typer) -> None:
    for command in (build, convert):
        app.command()(guarded(command))
