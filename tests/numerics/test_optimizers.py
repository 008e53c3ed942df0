"""Optimizers: schema, and 20-step trajectories of the NumPy reference, the torch
re-implementations and the stock Keras optimizers from the same gradients."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from dnnc.numerics import learning_rate_at, make_reference_optimizer
from dnnc.spec_schema.optimizers import BUILTIN_OPTIMIZER_MODELS, OptimizerSpec

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dnnc.backends.keras.losses import keras_loss  # noqa: E402
from dnnc.backends.keras.optimizers import build_keras_optimizer  # noqa: E402
from dnnc.backends.torch.losses import torch_loss  # noqa: E402
from dnnc.backends.torch.optimizers import build_torch_optimizer  # noqa: E402
from dnnc.backends.torch.optimizers import set_learning_rate as torch_set_lr  # noqa: E402

OPT = TypeAdapter(OptimizerSpec)
STEPS = 20


def ir(spec) -> dict:
    return OPT.validate_python(spec).model_dump()


# --------------------------------------------------------------------------- schema


KERAS_CLASS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "adamax": "Adamax",
               "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta"}


@pytest.mark.parametrize("kind", sorted(KERAS_CLASS))
def test_defaults_are_the_keras3_defaults(kind):
    ours = ir(kind)
    theirs = getattr(keras.optimizers, KERAS_CLASS[kind])().get_config()
    for key, value in ours.items():
        if key == "type":
            continue
        expected = theirs[key]
        if key == "weight_decay" and expected is None:
            expected = 0.0
        assert value == pytest.approx(expected, rel=1e-6) if isinstance(value, float) else value == expected, key


def test_every_type_has_a_model_and_three_implementations():
    from dnnc.backends.torch.optimizers import TORCH_OPTIMIZERS
    from dnnc.numerics import REFERENCE_OPTIMIZERS

    types = {m.model_fields["type"].annotation.__args__[0] for m in BUILTIN_OPTIMIZER_MODELS}
    assert types == set(KERAS_CLASS) == set(TORCH_OPTIMIZERS) == set(REFERENCE_OPTIMIZERS)


def test_shorthand_equals_table_and_ir_is_explicit():
    assert ir("rmsprop") == ir({"type": "rmsprop"})
    d = ir({"type": "adam", "learning_rate": {"type": "cosine_decay", "initial_learning_rate": 0.01, "decay_steps": 5}})
    assert d == {
        "type": "adam",
        "learning_rate": {"type": "cosine_decay", "initial_learning_rate": 0.01, "decay_steps": 5, "alpha": 0.0},
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
        "weight_decay": 0.0, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    }
    assert ir("adamw")["weight_decay"] == 0.004


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"type": "sgd", "learning_rate": -0.1}, "greater than or equal to 0"),
        ({"type": "sgd", "learning_rate": True}, "Input should be a valid number"),
        ({"type": "adam", "clipnorm": 1.0, "global_clipnorm": 1.0}, "only one of clipnorm, global_clipnorm and clipvalue"),
        ({"type": "adam", "clipnorm": 1.0, "clipvalue": 0.5}, "received clipnorm=1.0, clipvalue=0.5"),
        ({"type": "adam", "clipnorm": 0.0}, "greater than 0"),
        ({"type": "sgd", "momentum": 1.0}, "less than 1"),
        ({"type": "adam", "beta_2": 1.0}, "less than 1"),
        ({"type": "adam", "epsilon": 0.0}, "greater than 0"),
        ({"type": "adam", "weight_decay": -1e-3}, "greater than or equal to 0"),
        ({"type": "adam", "lr": 0.1}, "Extra inputs are not permitted"),
        ({"type": "adams"}, "'sgd', 'adam', 'adamw'"),
        ({"type": "sgd", "learning_rate": {"type": "exponential_decay", "initial_learning_rate": 0.1}}, "decay_steps"),
    ],
)
def test_invalid_optimizers_are_rejected_with_a_clear_message(spec, fragment):
    with pytest.raises(ValidationError) as err:
        ir(spec)
    assert fragment in str(err.value)


# --------------------------------------------------------------------------- trajectories

EXP = {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.7}
PIECEWISE = {"type": "piecewise_constant", "boundaries": [4, 9], "values": [0.05, 0.02, 0.005]}
COSINE = {"type": "cosine_decay", "initial_learning_rate": 0.01, "decay_steps": 15, "alpha": 0.1}
POLY = {"type": "polynomial_decay", "initial_learning_rate": 0.003, "decay_steps": 8, "power": 2.0, "cycle": True}
INVERSE = {"type": "inverse_time_decay", "initial_learning_rate": 0.01, "decay_steps": 2, "decay_rate": 0.5}

CASES = {
    "sgd": "sgd",
    "sgd_momentum": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    "sgd_nesterov_exp_decay": {"type": "sgd", "learning_rate": EXP, "momentum": 0.9, "nesterov": True},
    "sgd_momentum_weight_decay_piecewise": {"type": "sgd", "learning_rate": PIECEWISE, "momentum": 0.8, "weight_decay": 0.3},
    "sgd_clipnorm": {"type": "sgd", "learning_rate": 0.1, "clipnorm": 1.0},
    "sgd_global_clipnorm": {"type": "sgd", "learning_rate": 0.1, "global_clipnorm": 1.0},
    "sgd_clipvalue": {"type": "sgd", "learning_rate": 0.1, "clipvalue": 0.3},
    "adam": "adam",
    "adam_amsgrad": {"type": "adam", "amsgrad": True},
    "adam_weight_decay_cosine": {"type": "adam", "learning_rate": COSINE, "weight_decay": 0.05},
    "adam_clipnorm": {"type": "adam", "learning_rate": 0.01, "clipnorm": 0.5},
    "adamw": "adamw",
    "nadam": "nadam",
    "nadam_poly_cycle": {"type": "nadam", "learning_rate": POLY, "global_clipnorm": 2.0},
    "adamax": "adamax",
    "adamax_clipvalue": {"type": "adamax", "clipvalue": 0.2, "weight_decay": 0.01},
    "rmsprop": "rmsprop",
    "rmsprop_centered_momentum_inverse": {"type": "rmsprop", "learning_rate": INVERSE, "centered": True, "momentum": 0.9},
    "rmsprop_weight_decay_global_clipnorm": {"type": "rmsprop", "weight_decay": 0.1, "global_clipnorm": 1.0},
    "adagrad": "adagrad",
    "adagrad_zero_initial_accumulator": {"type": "adagrad", "learning_rate": 0.01, "initial_accumulator_value": 0.0},
    "adadelta": {"type": "adadelta", "learning_rate": 1.0},
}

SHAPES = {"kernel": (4, 3), "bias": (3,)}


def initial_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}


def gradient_sequence(scale: float) -> list[dict[str, np.ndarray]]:
    """Gradients of norm > 1 (clipping active) at scale 1; at 1e-6 the ε placement matters."""
    rng = np.random.default_rng(1)
    return [{k: (rng.normal(size=s) * scale).astype(np.float32) for k, s in SHAPES.items()} for _ in range(STEPS)]


def run_reference(opt_ir, grads):
    w = initial_weights()
    opt = make_reference_optimizer(opt_ir)
    for k, g in enumerate(grads):
        opt.step(w, g, learning_rate_at(opt_ir["learning_rate"], k))
    return w


def run_torch(opt_ir, grads, optimizer=None, start=0):
    params = [(n, torch.nn.Parameter(torch.tensor(v))) for n, v in initial_weights().items()]
    opt = optimizer(params) if optimizer else build_torch_optimizer(params, opt_ir)
    for k, g in enumerate(grads, start=start):
        torch_set_lr(opt, learning_rate_at(opt_ir["learning_rate"], k))
        for n, p in params:
            p.grad = torch.tensor(g[n])
        opt.step()
    return {n: p.detach().numpy().copy() for n, p in params}


def keras_set_lr(optimizer, learning_rate: float) -> None:
    """What the Keras backend's training step does: assign the float32 value to the optimizer's variable."""
    optimizer.learning_rate.assign(np.float32(learning_rate))


def run_keras(opt_ir, grads):
    variables = {n: keras.Variable(v, name=n) for n, v in initial_weights().items()}
    opt = build_keras_optimizer(opt_ir)
    for k, g in enumerate(grads):
        keras_set_lr(opt, learning_rate_at(opt_ir["learning_rate"], k))
        opt.apply_gradients([(tf.constant(g[n]), variables[n]) for n in SHAPES])
    return {n: v.numpy() for n, v in variables.items()}


def assert_same_trajectory(result, reference, label, atol=1e-6):
    """Weights within 1e-5 relative, and the difference small against the distance moved."""
    w0 = initial_weights()
    moved = max(float(np.max(np.abs(reference[n] - w0[n]))) for n in SHAPES)
    diff = max(float(np.max(np.abs(result[n] - reference[n]))) for n in SHAPES)
    for n in SHAPES:
        np.testing.assert_allclose(result[n], reference[n], rtol=1e-5, atol=atol, err_msg=f"{label}: {n}")
    if moved > 1e-4:  # below that float32 weights near 1 cannot resolve the movement
        assert diff <= 1e-3 * moved, f"{label}: differs by {diff:.3g}, moved {moved:.3g}"


@pytest.mark.parametrize("scale", [1.0, 1e-6], ids=["normal_grads", "tiny_grads"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_torch_and_keras_follow_the_same_trajectory(case, scale):
    opt_ir = ir(CASES[case])
    grads = gradient_sequence(scale)
    reference = run_reference(opt_ir, grads)
    assert any(not np.array_equal(reference[n], initial_weights()[n]) for n in SHAPES) or scale < 1
    assert_same_trajectory(run_torch(opt_ir, grads), reference, f"torch {case}")
    assert_same_trajectory(run_keras(opt_ir, grads), reference, f"keras {case}")


@pytest.mark.parametrize(
    "case, stock",
    [
        ("adam", lambda p: torch.optim.Adam([q for _, q in p], lr=1e-3, eps=1e-7)),
        ("rmsprop", lambda p: torch.optim.RMSprop([q for _, q in p], lr=1e-3, alpha=0.9, eps=1e-7)),
    ],
)
def test_stock_torch_fails_the_same_check_on_tiny_gradients(case, stock):
    """The trajectory check is sensitive to ε placement: stock torch optimizers fail it."""
    opt_ir = ir(case)
    grads = gradient_sequence(1e-6)
    with pytest.raises(AssertionError):
        assert_same_trajectory(run_torch(opt_ir, grads, optimizer=stock), run_reference(opt_ir, grads), "stock")


def test_clipnorm_is_per_variable_and_global_clipnorm_is_joint():
    g = {"kernel": np.full((4, 3), 1.0, np.float32), "bias": np.full((3,), 2.0, np.float32)}
    for spec, expected_kernel_norm, expected_bias_norm in [
        ({"type": "sgd", "learning_rate": 1.0, "clipnorm": 1.0}, 1.0, 1.0),
        ({"type": "sgd", "learning_rate": 1.0, "global_clipnorm": 1.0}, np.sqrt(12 / 24), np.sqrt(12 / 24)),
    ]:
        opt_ir = ir(spec)
        for run in (run_reference, run_torch, run_keras):
            w = run(opt_ir, [g])
            moved = {n: float(np.linalg.norm(w[n] - initial_weights()[n])) for n in SHAPES}
            assert moved["kernel"] == pytest.approx(expected_kernel_norm, rel=1e-5), run.__name__
            assert moved["bias"] == pytest.approx(expected_bias_norm, rel=1e-5), run.__name__


def test_weight_decay_is_decoupled_and_applies_before_the_update():
    # One SGD step, zero gradient: w ← w − lr·wd·w exactly, in all three.
    opt_ir = ir({"type": "sgd", "learning_rate": 0.5, "momentum": 0.9, "weight_decay": 0.2})
    zero = [{n: np.zeros(s, np.float32) for n, s in SHAPES.items()}]
    for run in (run_reference, run_torch, run_keras):
        w = run(opt_ir, zero)
        np.testing.assert_allclose(w["kernel"], initial_weights()["kernel"] * 0.9, rtol=1e-6, err_msg=run.__name__)


def test_torch_state_dict_round_trip_continues_the_same_trajectory():
    opt_ir = ir({"type": "nadam", "learning_rate": COSINE, "weight_decay": 0.01})
    grads = gradient_sequence(1.0)
    straight = run_torch(opt_ir, grads)

    params = [(n, torch.nn.Parameter(torch.tensor(v))) for n, v in initial_weights().items()]
    opt = build_torch_optimizer(params, opt_ir)
    for k, g in enumerate(grads[:10]):
        torch_set_lr(opt, learning_rate_at(opt_ir["learning_rate"], k))
        for n, p in params:
            p.grad = torch.tensor(g[n])
        opt.step()
    saved = opt.state_dict()
    resumed = build_torch_optimizer(params, opt_ir)
    resumed.load_state_dict(saved)
    assert resumed.iterations == 10
    for k, g in enumerate(grads[10:], start=10):
        torch_set_lr(resumed, learning_rate_at(opt_ir["learning_rate"], k))
        for n, p in params:
            p.grad = torch.tensor(g[n])
        resumed.step()
    for n, p in params:
        np.testing.assert_array_equal(p.detach().numpy(), straight[n])


def test_variable_without_gradient_is_neither_decayed_nor_updated():
    opt_ir = ir({"type": "adam", "weight_decay": 0.1})
    grads = gradient_sequence(1.0)[:3]
    grads[1] = {"kernel": grads[1]["kernel"], "bias": None}
    ref = run_reference(opt_ir, grads)

    params = [(n, torch.nn.Parameter(torch.tensor(v))) for n, v in initial_weights().items()]
    opt = build_torch_optimizer(params, opt_ir)
    variables = {n: keras.Variable(v, name=n) for n, v in initial_weights().items()}
    kopt = build_keras_optimizer(opt_ir)
    kopt.build(list(variables.values()))
    for g in grads:
        for n, p in params:
            p.grad = None if g[n] is None else torch.tensor(g[n])
        opt.step()
        kopt.apply_gradients([(tf.constant(g[n]), variables[n]) for n in SHAPES if g[n] is not None])
    for n, p in params:
        np.testing.assert_allclose(p.detach().numpy(), ref[n], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(variables[n].numpy(), ref[n], rtol=1e-5, atol=1e-7)


def test_tiny_softmax_regression_trains_identically():
    """A real model: each framework differentiates its own loss; 20 Adam steps with a schedule, clipping and decay."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=16).astype(np.int64)
    sw = rng.uniform(0.5, 2.0, size=16).astype(np.float32)
    loss_ir = {"type": "sparse_categorical_crossentropy", "from_logits": False}
    opt_ir = ir({"type": "adam", "learning_rate": EXP, "global_clipnorm": 0.5, "weight_decay": 0.01, "amsgrad": True})

    # NumPy: analytic gradient of Σ w·CE / N with respect to W, b.
    w = initial_weights()
    opt = make_reference_optimizer(opt_ir)
    onehot = np.eye(3)[y]
    for k in range(STEPS):
        z = x.astype(np.float64) @ w["kernel"] + w["bias"]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) * sw[:, None] / len(x)
        opt.step(w, {"kernel": x.T @ dz, "bias": dz.sum(0)}, learning_rate_at(opt_ir["learning_rate"], k))

    params = [(n, torch.nn.Parameter(torch.tensor(v))) for n, v in initial_weights().items()]
    topt = build_torch_optimizer(params, opt_ir)
    P = dict(params)
    for k in range(STEPS):
        torch_set_lr(topt, learning_rate_at(opt_ir["learning_rate"], k))
        topt.zero_grad()
        torch_loss(loss_ir, "softmax", torch.tensor(x) @ P["kernel"] + P["bias"], y, sw).backward()
        topt.step()

    V = {n: keras.Variable(v, name=n) for n, v in initial_weights().items()}
    kopt = build_keras_optimizer(opt_ir)
    for k in range(STEPS):
        keras_set_lr(kopt, learning_rate_at(opt_ir["learning_rate"], k))
        with tf.GradientTape() as tape:
            loss = keras_loss(loss_ir, "softmax", tf.matmul(x, V["kernel"]) + V["bias"], y, sw)
        gk = tape.gradient(loss, [V[n] for n in SHAPES])
        kopt.apply_gradients(zip(gk, [V[n] for n in SHAPES]))

    # Gradients now come from float32 forward/backward passes and feed back into the
    # trajectory, so allow 1e-5 of the weight scale (~1) absolute as well.
    assert_same_trajectory({n: p.detach().numpy() for n, p in params}, w, "torch model", atol=1e-5)
    assert_same_trajectory({n: v.numpy() for n, v in V.items()}, w, "keras model", atol=1e-5)
