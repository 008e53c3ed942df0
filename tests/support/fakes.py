"""A fake backend for the runner's tests: the NumPy reference of the IR (dnnc.reference) behind the backend API.

``NumpyModel`` implements :class:`dnnc.backends.base.CompiledModel` with the
reference's float64 forward and backward passes (so its gradients are exact)
and plain SGD at the learning rate the runner passes (whatever the spec's
optimizer), recording every call, so the runner can be tested without
TensorFlow or PyTorch.  Without masks, training-mode dropout draws its masks
from the model's own generator.  Test files import it (`from support.fakes
import ...`); tests/runner/test_fake_backend.py checks it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dnnc.backends.base import StepResult, check_weights
from dnnc.compiler.ir import ModelIR
from dnnc.reference import Reference
from dnnc.runner.executor import LocalExecutor


class NumpyModel:
    """A CompiledModel in NumPy (float64 maths, float32 weights and outputs)."""

    backend_name = "fake"

    def __init__(self, ir: ModelIR, weights, *, seed: int = 0) -> None:
        check_weights(ir, weights)
        self.ir = ir
        self.reference = Reference(ir, "float64")
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

    # -- passes through the reference ---------------------------------------------------
    def _masks(self, inputs, training, masks):
        if not training or masks:
            return masks
        n = len(next(iter(inputs.values())))
        return {node.name: (self.rng.random((n, *node.shape)) >= node.attrs.rate).astype(np.float32)
                for node in self.ir.nodes if node.op == "dropout"}

    def _keep_moving(self, evaluation, training):
        if training:
            self.w.update({k: np.asarray(v, dtype=np.float32) for k, v in evaluation.moving.items()})

    def _outputs(self, evaluation):
        return {name: np.asarray(v, dtype=np.float32) for name, v in evaluation.outputs.items()}

    def _evaluate(self, inputs, targets, sample_weight, training, masks, gradients=True):
        ev = self.reference.loss_and_gradients(self.w, inputs, targets, sample_weight=sample_weight,
                                               training=training, dropout_masks=self._masks(inputs, training, masks),
                                               gradients=gradients)
        self._keep_moving(ev, training)
        return {k: float(v) for k, v in ev.losses.items()}, ev

    # -- the protocol ----------------------------------------------------------------------
    def forward(self, inputs, *, training=False, dropout_masks=None):
        ev = self.reference.forward(self.w, inputs, training=training,
                                    dropout_masks=self._masks(inputs, training, dropout_masks))
        self._keep_moving(ev, training)
        return self._outputs(ev)

    def loss_and_gradients(self, inputs, targets, *, sample_weight=None, training=True, dropout_masks=None):
        losses, ev = self._evaluate(inputs, targets, sample_weight, training, dropout_masks)
        return losses, {k: np.asarray(g, dtype=np.float32) for k, g in ev.gradients.items()}

    def train_step(self, inputs, targets, *, learning_rate, sample_weight=None, dropout_masks=None):
        n = next(iter(inputs.values())).shape[0]
        self.calls.append(("train", n))
        self.learning_rates.append(learning_rate)
        self.masks_seen.append(dropout_masks)
        losses, ev = self._evaluate(inputs, targets, sample_weight, True, dropout_masks)
        for k, g in ev.gradients.items():
            self.w[k] = (self.w[k] - np.float32(learning_rate) * g.astype(np.float32)).astype(np.float32)
        return StepResult(losses=losses, outputs=self._outputs(ev))

    def evaluate_step(self, inputs, targets, *, sample_weight=None):
        n = next(iter(inputs.values())).shape[0]
        self.calls.append(("evaluate", n))
        losses, ev = self._evaluate(inputs, targets, sample_weight, False, None, gradients=False)
        return StepResult(losses=losses, outputs=self._outputs(ev))

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
