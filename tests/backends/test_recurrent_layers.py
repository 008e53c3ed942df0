"""The recurrent ops (simple_rnn, lstm, gru) in both backends: Keras's own parameter counts, the torch layout functions against
torch's own nn.LSTM/nn.GRU, the path each torch module takes, and dnnc's initial values (orthogonal, unit_forget_bias).

Numerics against the oracle (outputs, gradients, 20-step trajectories) are the conformance cases of
dnnc/conformance/recurrent_cases.py, run by the kit and tests/backends/test_torch_backend.py.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from dnnc.compiler.compile import compile_spec  # noqa: E402
from dnnc.compiler.errors import SpecError  # noqa: E402
from dnnc.compiler.initial_weights import initial_weights  # noqa: E402
from dnnc.conformance.cases import CASES_BY_NAME  # noqa: E402
from dnnc.conformance.recurrent_cases import recurrent_cases  # noqa: E402

RECURRENT = [c.name for c in recurrent_cases()]


def _spec(layer: dict, shape=(5, 3)) -> dict:
    return {"model": {"input_shape": list(shape), "layers": [layer, {"type": "dense", "units": 2}]},
            "training": {"loss": "mse", "optimizer": "sgd"}}


@pytest.mark.parametrize("name", RECURRENT)
def test_parameter_counts_equal_keras_count_params_per_layer(name):
    from dnnc.backends.keras import KerasBackend

    ir = CASES_BY_NAME[name].ir()
    model = KerasBackend().build(ir, initial_weights(ir, 0))
    for node in ir.nodes:
        if node.op in ("simple_rnn", "lstm", "gru", "bidirectional", "embedding"):
            assert model.keras_model.get_layer(node.name).count_params() == node.trainable_count + node.non_trainable_count, node.name


def test_torch_layout_functions_reproduce_torch_own_modules():
    """The documented conversions (canonical → torch) loaded into nn.RNN / nn.LSTM / nn.GRU give dnnc's outputs."""
    from dnnc.backends.torch import TorchBackend
    from dnnc.backends.torch.recurrent import torch_gru_weights, torch_lstm_weights, torch_rnn_weights

    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    for op, convert, stock in (("simple_rnn", torch_rnn_weights, torch.nn.RNN), ("lstm", torch_lstm_weights, torch.nn.LSTM),
                               ("gru", torch_gru_weights, torch.nn.GRU)):
        ir = compile_spec(_spec({"type": op, "units": 4, "return_sequences": True,
                                 "bias_init": {"type": "random_normal", "stddev": 0.5}}), name=op)
        weights = initial_weights(ir, 3)
        module = TorchBackend().build(ir, weights).graph.module_for(op)
        reference = stock(3, 4, batch_first=True)
        canonical = [torch.from_numpy(weights[f"{op}/{p}"]) for p in ("kernel", "recurrent_kernel", "bias")]
        with torch.no_grad():
            for param, value in zip(reference._flat_weights, convert(*canonical)):
                param.copy_(value)
            got, want = module(torch.from_numpy(x)), reference(torch.from_numpy(x))[0]
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, path", [("op_simple_rnn", "fused torch.rnn_tanh"), ("op_simple_rnn_stacked",
                                        "fused torch.rnn_relu"), ("op_lstm", "fused torch.lstm"), ("op_gru", "fused torch.gru"),
                                        ("op_lstm_stacked_cell", "cell loop"), ("op_gru_reset_before", "cell loop")])
def test_torch_summary_names_the_path(name, path):
    from dnnc.backends.torch import TorchBackend

    ir = CASES_BY_NAME[name].ir()
    summary = TorchBackend().build(ir, initial_weights(ir, 0)).summary()
    first = next(n.name for n in ir.nodes if n.op in ("simple_rnn", "lstm", "gru"))
    line = next(row for row in summary.splitlines() if row.startswith(first + " "))
    assert f"path={path}" in line


def test_bidirectional_directions_draw_their_own_weights_and_keep_unit_forget_bias():
    ir = compile_spec(_spec({"type": "bidirectional", "layer": {"type": "lstm", "units": 3}}), name="m")
    w = initial_weights(ir, 0)
    assert not np.array_equal(w["bidirectional/forward_kernel"], w["bidirectional/backward_kernel"])
    for d in ("forward", "backward"):
        np.testing.assert_array_equal(w[f"bidirectional/{d}_bias"], np.r_[np.zeros(3), np.ones(3), np.zeros(6)])


def test_initial_values_orthogonal_recurrent_kernel_and_unit_forget_bias():
    ir = compile_spec(_spec({"type": "lstm", "units": 6, "bias_init": {"type": "constant", "value": 0.25}}), name="m")
    w = initial_weights(ir, 0)
    u = w["lstm/recurrent_kernel"]  # (6, 24): orthonormal rows
    np.testing.assert_allclose(u @ u.T, np.eye(6), atol=1e-6)
    np.testing.assert_array_equal(w["lstm/bias"], np.r_[np.full(6, 0.25), np.ones(6), np.full(12, 0.25)])
    plain = compile_spec(_spec({"type": "lstm", "units": 6, "unit_forget_bias": False}), name="m")
    np.testing.assert_array_equal(initial_weights(plain, 0)["lstm/bias"], np.zeros(24))
    tall = compile_spec(_spec({"type": "gru", "units": 2, "kernel_init": {"type": "orthogonal", "gain": 2.0}},
                              shape=(5, 9)), name="m")
    k = initial_weights(tall, 0)["gru/kernel"]  # (9, 6): orthogonal columns times the gain
    np.testing.assert_allclose(k.T @ k, 4.0 * np.eye(6), atol=1e-5)


@pytest.mark.parametrize("layer, shape, key, text", [
    ({"type": "lstm", "units": 4}, (12,), "", "sequence input of shape (steps, features)"),
    ({"type": "lstm", "units": 4, "bias_init": "orthogonal"}, (5, 3), ".bias_init", "rank ≥ 2"),
    ({"type": "lstm", "units": 4, "activation": {"type": "leaky_relu"}}, (5, 3), ".activation", "parameter-free"),
    ({"type": "gru", "units": 0}, (5, 3), ".units", "must be > 0"),
    ({"type": "bidirectional", "layer": {"type": "lstm", "units": 2, "go_backwards": True}}, (5, 3), ".layer",
     "takes no go_backwards"),
    ({"type": "bidirectional", "layer": {"type": "gru", "units": 2}, "merge_mode": "max"}, (5, 3), ".merge_mode",
     "allowed 'ave', 'concat', 'mul', 'sum'"),
])
def test_spec_errors_are_located(layer, shape, key, text):
    with pytest.raises(SpecError) as info:
        compile_spec(_spec(layer, shape), name="m")
    message = str(info.value)
    assert text in message and f"model.layers[0]{key}:" in message
