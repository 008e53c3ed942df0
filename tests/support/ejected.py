"""Helpers of the export/eject tests: example batches and weights, and importing an ejected module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from dnnc.compiler.compile import compile_spec
from dnnc.compiler.dropout_sites import dropout_sites
from dnnc.compiler.embedding_ops import token_inputs
from dnnc.compiler.initial_weights import initial_weights
from dnnc.compiler.ir import ModelIR
from dnnc.compiler.recurrent_ops import GATES
from dnnc.eject import eject_source
from support.paths import ROOT, example_specs

#: Specs of the export/eject tests besides the examples (features no example uses, e.g. frozen layers).
EXTRA_SPECS = ROOT / "tests" / "export" / "specs"
SPECS = {p.stem: p for p in [*example_specs(), *sorted(EXTRA_SPECS.glob("*.toml"))]}
#: Every example, then the extra specs.
EXAMPLE_NAMES = list(SPECS)
#: The ops whose biases :func:`example_weights` draws.
RECURRENT_OPS = {*GATES, "bidirectional"}
def example_ir(name: str) -> ModelIR:
    return compile_spec(SPECS[name])


def source_name(name: str) -> str:
    """The spec path as the golden files name it (relative to the checkout)."""
    return SPECS[name].relative_to(ROOT).as_posix()


def example_weights(ir: ModelIR, seed: int = 7) -> dict[str, np.ndarray]:
    """dnnc's initial weights with non-trivial batch-norm statistics and batch- and layer-norm parameters (so
    that inference mode differs from training mode and gamma/beta matter) and N(0, 0.5) recurrent biases (zeros but
    for an LSTM's forget slice at first: so that each gate's bias, and which tensor holds it, matters)."""
    rng = np.random.default_rng(seed)
    weights = initial_weights(ir, seed)
    for key, node, param in ir.weight_specs():
        if node.op in RECURRENT_OPS and param.name.endswith("bias"):
            weights[key] = rng.normal(0.0, 0.5, weights[key].shape).astype(np.float32)
        if node.op not in ("batch_norm", "layer_norm"):
            continue
        shape = weights[key].shape
        if param.name == "moving_variance":
            weights[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif param.name == "gamma":
            weights[key] = rng.uniform(0.8, 1.2, shape).astype(np.float32)
        else:
            weights[key] = rng.normal(0.0, 0.1, shape).astype(np.float32)
    return weights


def batch(ir: ModelIR, n: int = 8, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Random inputs (int64 ids below the embeddings' input_dim for a token input) and targets of the kinds the
    data pipeline produces for each output."""
    rng = np.random.default_rng(seed)
    tokens = token_inputs(ir)
    inputs = {name: rng.integers(0, tokens[name], size=(n, *ir.node(name).shape), dtype=np.int64) if name in tokens
              else rng.standard_normal((n, *ir.node(name).shape)).astype(np.float32) for name in ir.inputs}
    targets = {}
    for out in ir.outputs:
        k = out.shape[-1]
        if out.target == "sparse":
            targets[out.name] = rng.integers(0, k, size=n).astype(np.int64)
        elif out.target == "one_hot":
            targets[out.name] = np.eye(k, dtype=np.float32)[rng.integers(0, k, size=n)]
        elif out.target == "binary":
            targets[out.name] = rng.integers(0, 2, size=(n, *out.shape)).astype(np.float32)
        else:
            targets[out.name] = rng.standard_normal((n, *out.shape)).astype(np.float32)
    return inputs, targets


def dropout_masks(ir: ModelIR, n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """A keep mask for every site that draws one (dropout: the node's shape; spatial dropout: (1, 1, C); a recurrent
    node's dropout and recurrent_dropout: (gates or 1, features or units), :func:`dropout_sites`)."""
    rng = np.random.default_rng(seed)
    return {name: (rng.random((n, *shape)) >= rate).astype(np.float32)
            for name, (shape, rate) in dropout_sites(ir).items()}


def load_ejected(ir: ModelIR, to: str, directory: Path, *, weights: Path | None = None, tag: str = ""):
    """Write the ejected module into `directory` and import it (a fresh module object each call)."""
    source = eject_source(ir, to, source=f"{ir.name}.toml", weights=None if weights is None else str(weights))
    path = directory / f"ejected_{to}_{ir.name.replace('-', '_')}{tag}.py"
    path.write_text(source)
    name = f"_ejected_{path.stem}_{id(path)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def ejected_with_weights(name: str, to: str, directory: Path, tag: str = ""):
    """(IR, weights, module): the spec `name` ejected to `to` with :func:`example_weights` saved as its
    canonical weights.npz, which the module's build_model() loads."""
    ir = example_ir(name)
    weights = example_weights(ir)
    path = directory / f"{name}{tag}.npz"
    np.savez(path, **weights)
    return ir, weights, load_ejected(ir, to, directory, weights=path, tag=tag)
