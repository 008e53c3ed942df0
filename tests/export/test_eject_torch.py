"""The ejected PyTorch module is dnnc's torch model: same outputs, losses, gradients, statistics and steps.

For every example (and tests/export/specs: frozen layers): the module, loaded with the same canonical weights, gives
dnnc's inference outputs (≤ 1e-6), the same training-mode loss and gradients for
a batch (the same dropout masks, put in with forward hooks: on nn.Dropout, and on
the SequenceDropout modules of the recurrent layers), the same batch-norm
moving statistics after that pass, and its own training loop runs; for the
examples without dropout (or recurrent dropout) its loop follows dnnc's trainer step for step (same
batch order, learning rate and Keras update rule: weights within 1e-6 after 3
updates).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dnnc.compiler.dropout_sites import dropout_sites  # noqa: E402
from dnnc.eject.context import EjectContext  # noqa: E402
from dnnc.eject.torch_emitters import EMITTERS, canonical_array  # noqa: E402
from dnnc.runner.api import get_backend  # noqa: E402
from support.ejected import (EXAMPLE_NAMES, batch, dropout_masks, ejected_with_weights, example_weights,  # noqa: E402
                             load_ejected)

OUT_TOL = 1e-6


def _emitted(ir):
    ctx = EjectContext(ir, "torch")
    return {node.name: EMITTERS[node.op](node, ctx) for node in ir.nodes}


def _bindings(ir):
    """canonical key → the TorchWeights of the torch tensors holding it (one, or a fused GRU's two bias rows), from
    the emitters themselves."""
    out = {}
    for name, emitted in _emitted(ir).items():
        for w in emitted.weights:
            out.setdefault(f"{name}/{w.param}", []).append(w)
    return out


def _canonical(model, weights, grad=False):
    """A parameter's canonical value (or gradient) from the ejected model's tensors."""
    return canonical_array(weights, lambda a: (_tensor(model, a).grad if grad else _tensor(model, a).detach()).numpy())


def _tensor(model, path):
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _outputs(ir, result):
    if len(ir.outputs) == 1:
        return {ir.outputs[0].name: result}
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("eject_torch")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_ejected_torch_module_is_dnnc_model(name, workdir):
    ir, weights, mod = ejected_with_weights(name, "torch", workdir)
    ref = get_backend("torch", ir).build(ir, weights)
    model = mod.build_model()
    x, y = batch(ir, n=8)
    tensors = [torch.from_numpy(x[n]) for n in ir.inputs]

    # inference: the outputs (logits) and predict() (heads applied)
    model.eval()
    with torch.no_grad():
        got = _outputs(ir, model(*tensors))
    want = ref.forward(x)
    for out in ir.outputs:
        np.testing.assert_allclose(got[out.name].numpy(), want[out.name], rtol=0, atol=OUT_TOL)
    probabilities = _outputs(ir, mod.predict(model, *[x[n] for n in ir.inputs]))
    from dnnc.numerics.heads import apply_head

    for out in ir.outputs:
        np.testing.assert_allclose(probabilities[out.name], apply_head(out.head, want[out.name]), atol=OUT_TOL)

    # training mode: loss and gradients of one batch, with dnnc's dropout masks
    masks = dropout_masks(ir, 8)
    hooks = []
    for node in ir.nodes:
        if node.name in masks:  # nn.Dropout sees the channels-last values, nn.Dropout2d channels-first ones
            mask, rate = torch.from_numpy(masks[node.name]), node.attrs.rate
            mask = mask.permute(0, 3, 1, 2) if node.op == "spatial_dropout2d" else mask
            hooks.append(getattr(model, node.name).register_forward_hook(
                lambda m, inp, out, mask=mask, rate=rate: inp[0] * mask / (1.0 - rate)))
    sites = dropout_sites(ir)
    recurrent_masks = {key: path for e in _emitted(ir).values() for key, path in e.masks.items()}
    assert set(recurrent_masks) == set(sites) - {n.name for n in ir.nodes}
    for key, path in recurrent_masks.items():  # a recurrent layer's SequenceDropout returns keep / (1 - rate)
        mask, rate = torch.from_numpy(masks[key]), sites[key][1]
        hooks.append(_tensor(model, path).register_forward_hook(
            lambda m, inp, out, mask=mask, rate=rate: mask / (1.0 - rate)))
    model.train()
    targets = {k: torch.from_numpy(v) for k, v in y.items()}
    losses = mod.compute_loss(model, model(*tensors), targets)
    losses["loss"].backward()
    for h in hooks:
        h.remove()
    want_losses, want_grads = ref.loss_and_gradients(x, y, training=True, dropout_masks=masks or None)
    for key, value in want_losses.items():
        assert losses[key].item() == pytest.approx(value, rel=1e-6, abs=1e-7), key
    bindings = _bindings(ir)
    for key, grad in want_grads.items():
        np.testing.assert_allclose(_canonical(model, bindings[key], grad=True), grad, rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for key, ws in bindings.items():  # frozen parameters and moving statistics get no gradient
        if key not in want_grads:
            assert all(_tensor(model, w.attribute).grad is None for w in ws), key
    # the batch-norm moving statistics after that training-mode pass
    after = ref.get_weights()
    for key, ws in bindings.items():
        if key.endswith(("moving_mean", "moving_variance")):
            np.testing.assert_allclose(_canonical(model, ws), after[key], atol=1e-7, err_msg=key)


def _small_data(ir, n):
    x, y = batch(ir, n=n, seed=3)
    return {"train": {"inputs": x, "targets": y, "sample_weight": None}, "validation": None, "test": None}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_ejected_torch_training_loop_runs(name, workdir, tmp_path, monkeypatch):
    """Its own loop (optimizer, learning rate, metrics, callbacks) runs; without dropout it is dnnc's trainer."""
    monkeypatch.chdir(tmp_path)  # checkpoints and CSV files of the callbacks land here
    ir, weights, mod = ejected_with_weights(name, "torch", workdir, tag="_loop")
    batch_size = ir.training.batch_size
    n = 3 * batch_size if batch_size <= 32 else 2 * batch_size + 5
    data = _small_data(ir, n)
    data["validation"] = data["train"]
    model = mod.build_model()
    history = mod.train(model, data, epochs=1, max_steps=3)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    if dropout_sites(ir):  # dropout layers or recurrent dropout: its own masks, not dnnc's
        return
    _assert_dnnc_trainer_steps(ir, weights, model, data["train"], 3)


def _assert_dnnc_trainer_steps(ir, weights, model, train, steps):
    """`model` after `steps` updates of its own loop holds the weights dnnc's trainer reaches from `weights`."""
    from dnnc.runner.datasets.containers import Datasets, Split
    from dnnc.runner.loop import Trainer, gather

    ref = get_backend("torch", ir).build(ir, weights)
    split = Split(inputs=train["inputs"], targets=train["targets"])
    trainer = Trainer(ref, ir, Datasets(train=split, validation=None, test=None, meta={}), epochs=1)
    done = 0
    for index in trainer.batch_source.batches(0):
        if done == steps:
            break
        b = gather(split, index)
        ref.train_step(b.inputs, b.targets, learning_rate=trainer.context.learning_rate())
        trainer.state.global_step += 1
        done += 1
    bindings = _bindings(ir)
    for key, value in ref.get_weights().items():
        np.testing.assert_allclose(_canonical(model, bindings[key]), value, rtol=1e-5, atol=1e-6, err_msg=key)


CLIPPED_GRU = """
spec_version = 1
name = "clipped-gru"

[model]
input_shape = [4, 3]
layers = [{ type = "gru", units = 3 }, { type = "dense", units = 2, activation = "softmax" }]

[training]
loss = "sparse_categorical_crossentropy"
optimizer = { type = "sgd", learning_rate = 0.5, clipnorm = 0.01 }
batch_size = 8
epochs = 1
"""


@pytest.mark.parametrize("clipnorm", [True, False])
def test_a_gru_bias_clipped_by_norm_is_one_tensor(clipnorm, tmp_path):
    """clipnorm clips each canonical tensor by its own norm; a fused nn.GRU would hold the (2, 3·units) bias as two
    tensors (bias_ih_l0, bias_hh_l0) clipped apart, so under clipnorm the GRU is ejected as the explicit cell loop
    (KerasGRU, the canonical bias as it is), and its SGD steps are dnnc's; without clipnorm it is nn.GRU."""
    from dnnc.compiler.compile import compile_spec

    path = tmp_path / "clipped_gru.toml"
    path.write_text(CLIPPED_GRU if clipnorm else CLIPPED_GRU.replace(", clipnorm = 0.01", ""))
    ir = compile_spec(path)
    weights = example_weights(ir)
    np.savez(tmp_path / "w.npz", **weights)
    mod = load_ejected(ir, "torch", tmp_path, weights=tmp_path / "w.npz", tag="_clip" if clipnorm else "")
    model = mod.build_model()
    assert isinstance(model.gru, mod.KerasGRU if clipnorm else torch.nn.GRU)
    x, y = batch(ir, n=24, seed=3)
    train = {"inputs": x, "targets": y, "sample_weight": None}
    mod.train(model, {"train": train, "validation": None, "test": None}, epochs=1, max_steps=3)
    _assert_dnnc_trainer_steps(ir, weights, model, train, 3)
