"""A NumPy reference backend for the runner's tests (plus checks that it is right).

``NumpyModel`` implements :class:`dnnc.backends.base.CompiledModel` for small
graphs (input, dense, dropout, flatten, activation, concatenate, add) with
exact gradients and plain SGD at the learning rate the runner passes, so the
runner can be tested without TensorFlow or PyTorch.  Test files import it
(`from support.fakes import ...`); tests/runner/test_fake_backend.py checks it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dnnc.backends.base import StepResult, check_weights
from dnnc.compiler.ir import ModelIR
from dnnc.runner.executor import LocalExecutor

ACTS = {
    "linear": (lambda z: z, lambda z, y: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z, y: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z, y: 1 - y * y),
    "sigmoid": (lambda z: 0.5 * (1 + np.tanh(0.5 * z)), lambda z, y: y * (1 - y)),
}


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def loss_and_grad(loss: dict, z: np.ndarray, y: np.ndarray, w: np.ndarray | None):
    """(mean loss, d loss / d z) of one output; reduction Σ w·l / N."""
    n = z.shape[0]
    z = z.astype(np.float64)
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    kind = loss["type"]
    if kind == "sparse_categorical_crossentropy":
        ls = _log_softmax(z)
        yi = y.reshape(n).astype(np.int64)
        per = -ls[np.arange(n), yi]
        g = np.exp(ls)
        g[np.arange(n), yi] -= 1
    elif kind == "categorical_crossentropy":
        ls = _log_softmax(z)
        per = -(y * ls).sum(-1)
        g = np.exp(ls) * y.sum(-1, keepdims=True) - y
    elif kind == "binary_crossentropy":
        k = z.shape[-1]
        per = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(-1)
        g = (0.5 * (1 + np.tanh(0.5 * z)) - y) / k
    elif kind == "mse":
        k = z.shape[-1]
        per = ((z - y) ** 2).mean(-1)
        g = 2 * (z - y) / k
    elif kind == "mae":
        k = z.shape[-1]
        per = np.abs(z - y).mean(-1)
        g = np.sign(z - y) / k
    else:  # pragma: no cover
        raise NotImplementedError(kind)
    return float((w * per).sum() / n), g * (w / n)[:, None]


class NumpyModel:
    """A CompiledModel in NumPy (float64 maths, float32 weights and outputs)."""

    backend_name = "fake"

    def __init__(self, ir: ModelIR, weights, *, seed: int = 0) -> None:
        check_weights(ir, weights)
        self.ir = ir
        self.w = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}
        self.rng = np.random.default_rng(seed)
        self.calls: list[tuple[str, int]] = []  # ("train"|"evaluate", batch size)
        self.learning_rates: list[float] = []
        self.masks_seen: list[dict] = []

    # -- weights -----------------------------------------------------------------
    def get_weights(self):
        return {k: v.copy() for k, v in self.w.items()}

    def set_weights(self, weights):
        check_weights(self.ir, weights)
        self.w = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}

    # -- forward / backward ---------------------------------------------------------
    def _forward(self, inputs, training, masks):
        vals, cache = {}, {}
        for node in self.ir.nodes:
            if node.op == "input":
                vals[node.name] = np.asarray(inputs[node.name], dtype=np.float64)
                continue
            xs = [vals[i] for i in node.inputs]
            if node.op == "dense":
                x = xs[0]
                z = x @ self.w[f"{node.name}/kernel"].astype(np.float64)
                if node.attrs.use_bias:
                    z = z + self.w[f"{node.name}/bias"]
                act = node.attrs.activation.type
                y = ACTS[act][0](z)
                cache[node.name] = (x, z, y, act)
            elif node.op == "activation":
                act = node.attrs.activation.type
                z = xs[0]
                y = ACTS[act][0](z)
                cache[node.name] = (z, y, act)
            elif node.op == "dropout":
                rate = node.attrs.rate
                if training and rate > 0:
                    if masks is not None and node.name in masks:
                        m = np.asarray(masks[node.name], dtype=np.float64)
                    else:
                        m = (self.rng.random(xs[0].shape) >= rate).astype(np.float64)
                    scale = m / (1 - rate)
                else:
                    scale = np.ones_like(xs[0])
                y = xs[0] * scale
                cache[node.name] = scale
            elif node.op == "flatten":
                y = xs[0].reshape(xs[0].shape[0], -1)
                cache[node.name] = xs[0].shape
            elif node.op == "concatenate":
                y = np.concatenate(xs, axis=-1)
                cache[node.name] = [x.shape[-1] for x in xs]
            elif node.op == "add":
                y = sum(xs)
            else:  # pragma: no cover
                raise NotImplementedError(node.op)
            vals[node.name] = y
        return vals, cache

    def _losses(self, vals, targets, sample_weight):
        losses, grads_out, total = {}, {}, 0.0
        for o in self.ir.outputs:
            value, g = loss_and_grad(o.loss, vals[o.name], targets[o.name], sample_weight)
            grads_out[o.name] = g * o.loss_weight
            total += o.loss_weight * value
            if len(self.ir.outputs) > 1:
                losses[f"{o.name}_loss"] = value
        losses = {"loss": total, **losses}
        return losses, grads_out

    def _backward(self, vals, cache, grads_out):
        grad = {k: v for k, v in grads_out.items()}
        pgrads = {}
        for node in reversed(self.ir.nodes):
            if node.op == "input" or node.name not in grad:
                continue
            dy = grad.pop(node.name)
            if node.op == "dense":
                x, z, y, act = cache[node.name]
                dz = dy * ACTS[act][1](z, y)
                pgrads[f"{node.name}/kernel"] = x.T @ dz
                if node.attrs.use_bias:
                    pgrads[f"{node.name}/bias"] = dz.sum(0)
                dxs = [dz @ self.w[f"{node.name}/kernel"].astype(np.float64).T]
            elif node.op == "activation":
                z, y, act = cache[node.name]
                dxs = [dy * ACTS[act][1](z, y)]
            elif node.op == "dropout":
                dxs = [dy * cache[node.name]]
            elif node.op == "flatten":
                dxs = [dy.reshape(cache[node.name])]
            elif node.op == "concatenate":
                cuts = np.cumsum(cache[node.name])[:-1]
                dxs = np.split(dy, cuts, axis=-1)
            elif node.op == "add":
                dxs = [dy for _ in node.inputs]
            for src, dx in zip(node.inputs, dxs):
                grad[src] = grad[src] + dx if src in grad else dx
        return pgrads

    # -- the protocol ----------------------------------------------------------------------
    def forward(self, inputs, *, training=False, dropout_masks=None):
        vals, _ = self._forward(inputs, training, dropout_masks)
        return {o.name: vals[o.name].astype(np.float32) for o in self.ir.outputs}

    def loss_and_gradients(self, inputs, targets, *, sample_weight=None, training=True, dropout_masks=None):
        vals, cache = self._forward(inputs, training, dropout_masks)
        losses, gout = self._losses(vals, targets, sample_weight)
        return losses, {k: v.astype(np.float32) for k, v in self._backward(vals, cache, gout).items()}

    def train_step(self, inputs, targets, *, learning_rate, sample_weight=None, dropout_masks=None):
        n = next(iter(inputs.values())).shape[0]
        self.calls.append(("train", n))
        self.learning_rates.append(learning_rate)
        self.masks_seen.append(dropout_masks)
        vals, cache = self._forward(inputs, True, dropout_masks)
        losses, gout = self._losses(vals, targets, sample_weight)
        grads = self._backward(vals, cache, gout)
        for k, g in grads.items():
            self.w[k] = (self.w[k] - np.float32(learning_rate) * g.astype(np.float32)).astype(np.float32)
        return StepResult(losses=losses, outputs={o.name: vals[o.name].astype(np.float32) for o in self.ir.outputs})

    def evaluate_step(self, inputs, targets, *, sample_weight=None):
        n = next(iter(inputs.values())).shape[0]
        self.calls.append(("evaluate", n))
        vals, _ = self._forward(inputs, False, None)
        losses, _ = self._losses(vals, targets, sample_weight)
        return StepResult(losses=losses, outputs={o.name: vals[o.name].astype(np.float32) for o in self.ir.outputs})

    def optimizer_state(self):
        return {}

    def layer_param_counts(self):
        return {n.name: (n.trainable_count, n.non_trainable_count) for n in self.ir.nodes}

    def summary(self):
        return f"NumpyModel({self.ir.name})"

    def save(self, path):
        path = Path(path)
        with open(path, "wb") as f:
            np.savez(f, __ir__=np.array(self.ir.to_json()), **self.w)
        return [path]


class FakeBackend:
    """A Backend for NumpyModel (register it in a test's registry with monkeypatch)."""

    name = "fake"
    supported_ops = frozenset({"input", "dense", "dropout", "flatten", "activation", "concatenate", "add"})
    artifact_suffix = ".fake"

    def __init__(self) -> None:
        self.built: list[NumpyModel] = []

    def status(self):
        return True, "numpy " + np.__version__

    def build(self, ir, weights):
        model = NumpyModel(ir, weights)
        self.built.append(model)
        return model

    def load(self, path):
        with np.load(path) as data:
            ir = ModelIR.from_json(str(data["__ir__"]))
            weights = {k: data[k] for k in data.files if k != "__ir__"}
        return NumpyModel(ir, weights)


def ir_from_toml(text: str, name: str = "model") -> ModelIR:
    from dnnc.compiler.compile import compile_text

    return compile_text(text, "toml", name=name)


XOR_SPEC = """
spec_version = 1
name = "xor"
[data]
dataset = {{ type = "xor", repeat = {repeat} }}
{data_extra}
[model]
input_shape = [2]
layers = [
  {{ type = "dense", units = 8, activation = "tanh" }},
  {{ type = "dropout", rate = {rate} }},
  {{ type = "dense", units = 1, activation = "sigmoid" }},
]
[training]
loss = "binary_crossentropy"
metrics = ["accuracy"]
optimizer = {{ type = "sgd", learning_rate = 0.5 }}
batch_size = {batch}
epochs = {epochs}
seed = {seed}
strict_parity = {strict}
{training_extra}
"""


#: Linear layers, mse and a learning rate of 1e30: the weights overflow float32 and the loss is NaN from step 3.
DIVERGING_SPEC = """
spec_version = 1
name = "diverging"
[data]
dataset = { type = "xor", repeat = 4 }
[model]
input_shape = [2]
layers = [{ type = "dense", units = 8 }, { type = "dense", units = 1 }]
[training]
loss = "mse"
optimizer = { type = "sgd", learning_rate = 1e30 }
batch_size = 4
epochs = 3
"""


def xor_spec(*, repeat=8, rate=0.0, batch=4, epochs=5, seed=0, strict="false", data_extra="", training_extra="") -> str:
    return XOR_SPEC.format(repeat=repeat, rate=rate, batch=batch, epochs=epochs, seed=seed, strict=strict,
                           data_extra=data_extra, training_extra=training_extra)


class RecordingExecutor(LocalExecutor):
    def __init__(self, model):
        super().__init__(model)
        self.train_indices, self.eval_sizes, self.rates = [], [], []

    def train_step(self, batch, *, learning_rate, dropout_masks=None):
        self.train_indices.append(batch.indices.copy())
        self.rates.append(learning_rate)
        return super().train_step(batch, learning_rate=learning_rate, dropout_masks=dropout_masks)

    def evaluate_step(self, batch):
        self.eval_sizes.append(batch.size)
        return super().evaluate_step(batch)


def use_fake_backend(monkeypatch) -> "FakeBackend":
    """Register a fresh FakeBackend as backend "fake" for one test (undone by ``monkeypatch``)."""
    from dnnc.plugins.manager import get_registry

    backend = FakeBackend()
    monkeypatch.setitem(get_registry().backends, "fake", backend)
    return backend
