"""`[training] compile = true`: the torch step under torch.compile, Keras's under XLA.

What must hold: the dropout masks a compiled torch step draws up front are the very masks the uncompiled step
draws (bit for bit, and the generator ends in the same state); compiling before the first epoch changes nothing;
the epochs do not compile again; the trained numbers agree with the uncompiled step within float32 tolerances
(stated per test); the manifest and the phases record it; strict parity refuses it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.backends import available
from support.fakes import ir_from_toml

from dnnc.compiler.compile import compile_spec
from dnnc.compiler.errors import SpecError
from dnnc.compiler.initial_weights import initial_weights
from dnnc.runner import Trainer
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.callbacks import Callback
from dnnc.runner.datasets import Datasets
from dnnc.runner.phases import Phases

SPEC = """
spec_version = 1
name = "compiled"
[data]
dataset = "mnist"
divide_by = 255
validation = {{ last = 300 }}
[model]
input_shape = [784]
layers = [
  {{ type = "dense", units = 32, activation = "relu" }},
  {{ type = "batch_norm" }},
  {{ type = "dropout", rate = 0.3 }},
  {{ type = "dense", units = 10, activation = "softmax" }},
]
[training]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
optimizer = {{ type = "adam", learning_rate = 0.002 }}
batch_size = 64
epochs = 2
compile = {compile}
"""


@pytest.fixture(scope="module")
def small(data_dir):
    ds = load_datasets(ir_from_toml(SPEC.format(compile="false")), base_dir=None, data_dir=data_dir, download=False)
    # 1,000 rows: 15 batches of 64 and a last one of 40 per epoch
    return Datasets(train=ds.train.take(slice(0, 1000)), validation=ds.validation, test=ds.test.take(slice(0, 300)))


class Compilations(Callback):
    """Dynamo's count of compiled graphs when the epochs begin and when they end."""

    def on_train_begin(self, logs=None):
        from torch._dynamo.utils import counters

        self.begin = counters["stats"]["unique_graphs"]

    def on_train_end(self, logs=None):
        from torch._dynamo.utils import counters

        self.end = counters["stats"]["unique_graphs"]


def fit(name, compiled: bool, ds, dropout: float = 0.3, callbacks=()):
    ir = ir_from_toml(SPEC.format(compile=str(compiled).lower()).replace("rate = 0.3", f"rate = {dropout}"))
    model = get_backend(name, ir).build(ir, initial_weights(ir, 0))
    trainer = Trainer(model, ir, ds, phases=Phases(), callbacks=list(callbacks))
    history = trainer.fit()
    return history, model, trainer


def test_strict_parity_refuses_a_compiled_step():
    spec = {"model": {"input_shape": [4], "layers": [{"type": "dense", "units": 2}]},
            "training": {"loss": "mse", "optimizer": "sgd", "strict_parity": True, "compile": True}}
    with pytest.raises(SpecError) as info:
        compile_spec(spec, name="m")
    (issue,) = info.value.issues
    assert issue.path == ("training", "compile") and "strict_parity" in issue.message


def test_cli_compile_flag_is_the_override_and_refuses_strict_parity(tmp_path):
    """`dnnc train --compile` sets training.compile (recorded in the manifest); with strict parity it is the
    spec error at training.compile, exit 2 (the NumPy plugin has no compiler: requested, nothing compiled)."""
    from typer.testing import CliRunner

    from support.fakes import xor_spec

    from dnnc.cli.app import app

    spec = tmp_path / "xor.toml"
    spec.write_text(xor_spec(repeat=2, epochs=1))
    result = CliRunner().invoke(app, ["train", str(spec), "-b", "numpy", "--compile", "-q", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["compile"] == {"requested": True, "compiled": None}
    strict = tmp_path / "strict.toml"
    strict.write_text(xor_spec(repeat=2, epochs=1, strict="true"))
    result = CliRunner().invoke(app, ["train", str(strict), "-b", "numpy", "--compile", "-q", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "training.compile" in result.output and "strict_parity" in result.output
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------------------------- torch
torch_only = pytest.mark.skipif(not available("torch"), reason="torch is not installed")

MASKED = [
    # dropout, an LSTM with input and recurrent dropout, a bidirectional GRU with input dropout
    ({"input_shape": [6, 4], "layers": [
        {"type": "lstm", "units": 5, "dropout": 0.2, "recurrent_dropout": 0.3, "return_sequences": True},
        {"type": "dropout", "rate": 0.5},
        {"type": "bidirectional", "layer": {"type": "gru", "units": 3, "dropout": 0.25}},
        {"type": "dense", "units": 3}]}),
    # spatial dropout, dropout of rate 0 (draws nothing), dropout
    ({"input_shape": [5, 5, 2], "layers": [
        {"type": "conv2d", "filters": 3, "kernel_size": 3},
        {"type": "spatial_dropout2d", "rate": 0.4},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.0},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 3}]}),
]


@torch_only
@pytest.mark.parametrize("model", MASKED, ids=["recurrent", "spatial"])
def test_masks_drawn_up_front_are_the_masks_the_step_draws_itself(model):
    """GraphModule.draw_masks (what a compiled step passes in) gives bit-identical outputs to the module's own
    draws, and leaves the generator where the own draws leave it."""
    import torch

    ir = compile_spec({"model": model, "training": {"loss": "mse", "optimizer": "sgd"}}, name="m")
    m = get_backend("torch", ir).build(ir, initial_weights(ir, 0))
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(7, *ir.node(ir.inputs[0]).shape)).astype(np.float32))
    m._set_mode(True)
    start = m.generator.get_state()
    with torch.no_grad():
        (own,) = m.graph(x)
        after_own = m.generator.get_state()
        m.generator.set_state(start)
        masks = m.graph.draw_masks(7, torch.float32, m._device)
        after_draw = m.generator.get_state()
        (given,) = m.graph(x, dropout_masks=masks)
    assert masks and torch.equal(after_own, after_draw)
    assert torch.equal(own, given)
    # and the masks are real draws: another draw differs
    assert any(not torch.equal(a, b) for a, b in zip(masks.values(), m.graph.draw_masks(7, torch.float32, m._device).values()))


@torch_only
def test_torch_compiled_training_agrees_with_the_uncompiled_step(small):
    """Same batches, same dropout masks; only the float32 roundings of the fused kernels differ. 32 steps of a
    batch-norm network: losses within 1e-4 relative, weights within 1e-3 absolute (measured: about 1e-6 and
    1e-5), the validation and test accuracies equal to one sample."""
    plain, plain_model, _ = fit("torch", False, small)
    seen = Compilations()
    compiled, model, trainer = fit("torch", True, small, callbacks=[seen])
    assert model.compiled == "torch.compile (inductor, mode=default)"
    assert "step_compile" in trainer.phases.seconds
    for key, values in plain.history.items():
        np.testing.assert_allclose(compiled.history[key], values, rtol=1e-4, atol=2 / 300, err_msg=key)
    for key in ("test_loss",):
        np.testing.assert_allclose(compiled.test[key], plain.test[key], rtol=1e-4)
    assert abs(compiled.test["test_accuracy"] - plain.test["test_accuracy"]) <= 1 / 300 + 1e-9
    a, b = plain_model.get_weights(), model.get_weights()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=1e-3, rtol=0, err_msg=key)
    # everything was compiled before the epochs (both batch sizes, the optimizer update), nothing during them
    assert seen.begin >= 3 and seen.end == seen.begin


@torch_only
def test_compiling_before_the_first_epoch_leaves_the_model_unchanged(small):
    import torch

    ir = ir_from_toml(SPEC.format(compile="true"))
    model = get_backend("torch", ir).build(ir, initial_weights(ir, 0))
    weights = model.get_weights()
    buffers = [b.clone() for b in model.graph.buffers()]
    generator = model.generator.get_state()
    rows = small.train.take(slice(0, 64))
    model.warm_up_training([(rows.inputs, rows.targets, None)])
    after = model.get_weights()
    for key in weights:
        np.testing.assert_array_equal(after[key], weights[key], err_msg=key)
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.graph.buffers()))
    assert torch.equal(generator, model.generator.get_state())
    assert all(p.grad is None for p in model._params)
    assert model._optimizer.iterations == 0 and model.optimizer_state() == {}


# ---------------------------------------------------------------------------------------------- keras
def keras_agreement(data_dir: str) -> dict:
    """Train the dropout-free network with and without XLA (in a fresh process: TensorFlow's op determinism,
    which an earlier strict-parity model in the test process may have turned on, rules XLA out for good)."""
    ds = load_datasets(ir_from_toml(SPEC.format(compile="false")), base_dir=None, data_dir=Path(data_dir),
                       download=False)
    small = Datasets(train=ds.train.take(slice(0, 1000)), validation=ds.validation, test=ds.test.take(slice(0, 300)))
    plain, plain_model, _ = fit("keras", False, small, dropout=0.0)
    compiled, model, _ = fit("keras", True, small, dropout=0.0)
    a, b = plain_model.get_weights(), model.get_weights()
    return {"compiled": [plain_model.compiled, model.compiled], "plain": plain.history, "xla": compiled.history,
            "weight_difference": max(float(np.abs(a[k] - b[k]).max()) for k in a)}


@pytest.mark.skipif(not available("keras"), reason="keras is not installed")
def test_keras_compiled_training_uses_xla_and_agrees_with_the_uncompiled_step(data_dir):
    """XLA fuses too: losses within 1e-4 relative, weights within 1e-3 absolute (measured: 1e-7 and 4e-6).
    Without dropout: inside XLA, TensorFlow's stateless RNG picks another algorithm, so a compiled Keras step
    draws other dropout masks than the uncompiled one (docs/performance.md)."""
    here = Path(__file__).resolve().parent
    code = ("import json, sys; from test_compiled_step import keras_agreement; "
            "print(json.dumps(keras_agreement(sys.argv[1])))")
    env = {k: v for k, v in os.environ.items() if k != "DNNC_KERAS_JIT_COMPILE"}
    env["PYTHONPATH"] = os.pathsep.join([str(here), str(here.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["compiled"][0] is None and result["compiled"][1].startswith("XLA")
    for key, values in result["plain"].items():
        np.testing.assert_allclose(result["xla"][key], values, rtol=1e-4, atol=2 / 300, err_msg=key)
    assert result["weight_difference"] <= 1e-3

OPTIMIZERS = {
    "sgd": dict(type="sgd", momentum=0.0, nesterov=False),
    "sgd_nesterov_global_clipnorm_decay": dict(type="sgd", momentum=0.9, nesterov=True, global_clipnorm=0.1,
                                               weight_decay=0.01),
    "adam_clipnorm": dict(type="adam", beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, clipnorm=0.1),
    "adam_amsgrad": dict(type="adam", beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=True),
    "adamw": dict(type="adamw", beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.004),
    "nadam": dict(type="nadam", beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "adamax_clipvalue": dict(type="adamax", beta_1=0.9, beta_2=0.999, epsilon=1e-7, clipvalue=0.05),
    "rmsprop_centered_momentum": dict(type="rmsprop", rho=0.9, momentum=0.5, epsilon=1e-7, centered=True),
    "adagrad": dict(type="adagrad", initial_accumulator_value=0.1, epsilon=1e-7),
    "adadelta": dict(type="adadelta", rho=0.95, epsilon=1e-7),
}


@torch_only
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_compiled_optimizer_update_follows_the_uncompiled_one(name):
    """30 updates with a learning rate that changes every step: weights within 1e-6 (measured ≤ 2.4e-7 on
    values up to 3.6: the last bit of a few fused roundings; centered RMSprop 5e-5, measured 5.1e-6 on an earlier
    machine and 1.04e-5 on this AVX-512 one (inductor vectorises for the CPU it runs on), since its
    v − ā² cancels and magnifies them), one compilation for all of them."""
    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    from dnnc.backends.torch.optimizers import build_torch_optimizer, set_learning_rate

    def run(compiled: bool):
        g = torch.Generator().manual_seed(1)
        params = [torch.nn.Parameter(torch.randn(20, 7, generator=g)), torch.nn.Parameter(torch.randn(7, generator=g))]
        opt = build_torch_optimizer([("a/kernel", params[0]), ("a/bias", params[1])],
                                    {"learning_rate": 0.01, "weight_decay": 0.0, **OPTIMIZERS[name]})
        if compiled:
            opt.compile()
        x = torch.randn(16, 20, generator=g)
        for step in range(30):
            loss = ((x @ params[0] + params[1]).tanh() ** 2).mean()
            for p in params:
                p.grad = None
            loss.backward()
            set_learning_rate(opt, 0.01 * (1 + 0.1 * step))
            opt.apply_gradients()
        return [p.detach().clone() for p in params], opt

    torch._dynamo.reset()
    counters.clear()
    eager, _ = run(False)
    compiled, opt = run(True)
    assert counters["stats"]["unique_graphs"] == 1  # the 29 compiled updates: one graph, no recompilation
    assert opt.iterations == 30
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(b, a, atol=5e-5 if name.startswith("rmsprop_centered") else 1e-6, rtol=0)
