"""Small conformance cases: one per op, per activation (non-default parameters), per initializer, per loss.

Each :class:`Case` is a small spec dict compiled with
:func:`dnnc.compiler.compile.compile_spec`; every model ends in a dense layer
with a loss, so gradients can be compared.  Used by the conformance kit
(:mod:`dnnc.conformance.test_kit`: the structure and numeric levels of every
case against any installed backend), by the backends' own tests and by the
reference's finite-difference tests::

    from dnnc.conformance.cases import CASES
    from dnnc.conformance.test_kit import case_levels

    for case in CASES:
        for level in case_levels(case, my_backend):
            assert level.verdict in ("PASS", "SKIP"), [c.message for c in level.failures]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..compiler.ir import ModelIR

SPARSE = {"loss": "sparse_categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.1}, "seed": 0}


@dataclass(frozen=True, eq=False)
class Case:
    """A named small spec and what it exercises (``covers``: op, activation, initializer or loss names)."""

    name: str
    spec: dict[str, Any]
    covers: tuple[str, ...] = ()
    batch_size: int = 8
    notes: str = ""
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def ir(self) -> ModelIR:
        """The compiled IR (compiled once per case)."""
        if "ir" not in self._cache:
            from ..compiler.compile import compile_spec

            self._cache["ir"] = compile_spec(self.spec, name=self.name)
        return self._cache["ir"]


def _seq(input_shape: list[int], layers: list[dict], *, classes: int = 3, training: dict | None = None,
         head: dict | None = None) -> dict[str, Any]:
    """A sequential spec ending in a softmax dense layer of `classes` units."""
    final = head or {"type": "dense", "units": classes, "activation": "softmax", "name": "out"}
    return {"model": {"input_shape": input_shape, "layers": [*layers, final]}, "training": {**SPARSE, **(training or {})}}


def _two_input_merge(op: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": {
            "inputs": [{"name": "a", "shape": [5]}, {"name": "b", "shape": [5]}],
            "layers": [
                {"name": "da", "type": "dense", "units": 4, "activation": "tanh", "inputs": ["a"]},
                {"name": "db", "type": "dense", "units": 4, "activation": "tanh", "inputs": ["b"]},
                {"name": "merge", "type": op, "inputs": ["da", "db"], **extra},
                {"name": "out", "type": "dense", "units": 3, "activation": "softmax"},
            ],
        },
        "training": SPARSE,
    }


def _op_cases() -> list[Case]:
    merges = [Case(f"op_{op}", _two_input_merge(op), (op,)) for op in ("add", "subtract", "multiply", "average", "maximum", "minimum")]
    return [
        Case("op_dense", _seq([6], [{"type": "dense", "units": 5, "activation": "relu"}]), ("dense", "input")),
        Case("op_dense_no_bias", _seq([6], [{"type": "dense", "units": 5, "use_bias": False, "activation": "tanh"}]), ("dense",)),
        Case("op_dense_rank3", _seq([3, 4], [{"type": "dense", "units": 5, "activation": "relu"}, "flatten"]),
             ("dense", "flatten"), notes="dense on the last axis of a rank-3 input"),
        Case("op_maxout", _seq([6], [{"type": "maxout", "units": 4, "pieces": 3}]), ("maxout",)),
        Case("op_flatten", _seq([2, 3, 2], ["flatten"]), ("flatten",)),
        Case("op_reshape", _seq([12], [{"type": "reshape", "shape": [3, -1]}, {"type": "dense", "units": 2}, "flatten"]),
             ("reshape",)),
        Case("op_batch_norm", _seq([6], [{"type": "dense", "units": 5},
                                         {"type": "batch_norm", "momentum": 0.9, "epsilon": 1e-3}, "relu"]),
             ("batch_norm",)),
        Case("op_batch_norm_plain", _seq([6], [{"type": "dense", "units": 5},
                                               {"type": "batch_norm", "momentum": 0.5, "epsilon": 1e-5,
                                                "center": False, "scale": False}]),
             ("batch_norm",), notes="no gamma/beta, small epsilon"),
        Case("op_batch_norm_rank3", _seq([4, 3], [{"type": "batch_norm", "momentum": 0.8, "epsilon": 1e-2}, "flatten"]),
             ("batch_norm",), notes="channels on the last axis of a rank-3 input"),
        Case("op_dropout", _seq([6], [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dropout", "rate": 0.4}]),
             ("dropout",)),
        Case("op_activation", _seq([6], [{"type": "dense", "units": 5},
                                         {"type": "activation", "activation": {"type": "elu", "alpha": 0.7}}]),
             ("activation",)),
        Case("op_concatenate", {
            "model": {
                "inputs": [{"name": "wide", "shape": [3]}, {"name": "deep", "shape": [5]}],
                "layers": [
                    {"name": "h", "type": "dense", "units": 4, "activation": "relu", "inputs": ["deep"]},
                    {"name": "cat", "type": "concatenate", "inputs": ["wide", "h"]},
                    {"name": "out", "type": "dense", "units": 3, "activation": "softmax"},
                ],
            },
            "training": SPARSE}, ("concatenate",)),
        Case("op_concatenate_inner_axis", {
            "model": {
                "inputs": [{"name": "a", "shape": [2, 3]}, {"name": "b", "shape": [4, 3]}],
                "layers": [
                    {"name": "cat", "type": "concatenate", "axis": 1, "inputs": ["a", "b"]},
                    {"type": "flatten"},
                    {"name": "out", "type": "dense", "units": 3, "activation": "softmax"},
                ],
            },
            "training": SPARSE}, ("concatenate",), notes="axis 1 (Keras counting) of rank-3 inputs"),
        *merges,
        Case("two_outputs", {
            "model": {
                "inputs": [{"name": "wide", "shape": [5]}, {"name": "deep", "shape": [6]}],
                "layers": [
                    {"name": "h1", "type": "dense", "units": 8, "activation": "relu", "inputs": ["deep"]},
                    {"name": "h2", "type": "dense", "units": 8, "activation": "relu"},
                    {"name": "concat", "type": "concatenate", "inputs": ["wide", "h2"]},
                    {"name": "main", "type": "dense", "units": 1},
                    {"name": "aux", "type": "dense", "units": 1, "inputs": ["h2"]},
                ],
                "outputs": ["main", "aux"],
            },
            "training": {"loss": {"main": "mse", "aux": "mse"}, "loss_weights": {"main": 0.9, "aux": 0.1},
                         "optimizer": "sgd"}}, ("concatenate", "loss_weights")),
        Case("regularizers", _seq([6], [{"type": "dense", "units": 5, "activation": "relu",
                                         "kernel_regularizer": {"type": "l1_l2", "l1": 0.01, "l2": 0.02},
                                         "bias_regularizer": {"type": "l2", "l2": 0.05},
                                         "bias_init": {"type": "random_uniform", "minval": -0.5, "maxval": 0.5}}]),
             ("l1_l2", "l2"), notes="penalties in the loss and the gradients"),
        Case("mlp_bn_dropout", _seq([12], [
            {"type": "dense", "units": 16}, {"type": "batch_norm"}, "relu",
            {"type": "dense", "units": 8}, {"type": "batch_norm"}, "relu", {"type": "dropout", "rate": 0.3}],
            classes=4), ("dense", "batch_norm", "relu", "dropout"), batch_size=16, notes="the seed-004 shape, small"),
    ]


def _conv(rank: int, filters: int, kernel: Any, **extra: Any) -> dict[str, Any]:
    return {"type": f"conv{rank}d", "filters": filters, "kernel_size": kernel, **extra}


def _spatial_cases() -> list[Case]:
    """Convolutions and pooling: odd and even windows, strides 1 and 2, dilation, valid and same (symmetric and
    asymmetric padding: TensorFlow puts the odd cell after), groups, pooling over padded windows; every model
    flattens a channels-last tensor into its dense head, so the flatten order is checked too."""
    relu = {"activation": "relu"}
    return [
        Case("op_conv2d", _seq([6, 6, 2], [_conv(2, 3, 3, **relu), "flatten"]), ("conv2d", "flatten"),
             notes="odd kernel, valid, stride 1"),
        Case("op_conv2d_even_same_stride2", _seq([5, 5, 2], [_conv(2, 3, 2, strides=2, padding="same",
                                                                   activation="tanh"), "flatten"]),
             ("conv2d",), notes="kernel 2, stride 2, same: padding (0, 1) on each axis"),
        Case("op_conv2d_dilation_same", _seq([5, 6, 2], [_conv(2, 2, [3, 2], dilation_rate=[2, 1], padding="same",
                                                               use_bias=False), "flatten"]),
             ("conv2d",), notes="dilation 2 on rows (padding (2, 2)), even kernel on columns (padding (0, 1)), no bias"),
        Case("op_conv2d_groups", _seq([5, 5, 4], [_conv(2, 6, 3, strides=2, padding="same", groups=2, **relu),
                                                  "flatten"]),
             ("conv2d",), notes="2 groups, stride 2, same"),
        Case("op_conv1d", _seq([9, 3], [_conv(1, 4, 4, strides=2, padding="same", **relu), "flatten"]),
             ("conv1d",), notes="kernel 4, stride 2, same: padding (1, 2)"),
        Case("op_conv1d_dilation", _seq([9, 2], [_conv(1, 3, 3, dilation_rate=2, activation="elu"), "flatten"]),
             ("conv1d",), notes="dilation 2, valid"),
        Case("op_max_pool2d", _seq([6, 6, 2], [_conv(2, 3, 3, **relu), {"type": "max_pool2d"}, "flatten"]),
             ("max_pool2d",), notes="pool 2 after a relu conv (exact ties at 0)"),
        Case("op_max_pool2d_same_overlap", _seq([6, 5, 2], [{"type": "max_pool2d", "pool_size": 3, "strides": 2,
                                                             "padding": "same"}, "flatten"]),
             ("max_pool2d",), notes="overlapping windows, padding (0, 1) and (1, 1)"),
        Case("op_avg_pool2d_same_overlap", _seq([6, 5, 2], [{"type": "avg_pool2d", "pool_size": 3, "strides": 2,
                                                             "padding": "same"}, "flatten"]),
             ("avg_pool2d",), notes="padded cells not counted"),
        Case("op_avg_pool2d_valid", _seq([5, 6, 2], [{"type": "avg_pool2d", "pool_size": [2, 3], "strides": 1},
                                                     "flatten"]), ("avg_pool2d",)),
        Case("op_max_pool1d_same", _seq([7, 3], [{"type": "max_pool1d", "pool_size": 2, "padding": "same"},
                                                 "flatten"]), ("max_pool1d",), notes="padding (0, 1)"),
        Case("op_avg_pool1d_same", _seq([7, 3], [{"type": "avg_pool1d", "pool_size": 4, "strides": 2,
                                                  "padding": "same"}, "flatten"]), ("avg_pool1d",)),
        Case("op_global_pools2d", {
            "model": {"input_shape": [4, 5, 3], "layers": [
                {"name": "c", "type": "conv2d", "filters": 4, "kernel_size": 2, "activation": "relu"},
                {"name": "gmax", "type": "global_max_pool2d", "inputs": ["c"]},
                {"name": "gavg", "type": "global_avg_pool2d", "inputs": ["c"]},
                {"name": "cat", "type": "concatenate", "inputs": ["gmax", "gavg"]},
                {"name": "out", "type": "dense", "units": 3, "activation": "softmax"}]},
            "training": SPARSE}, ("global_max_pool2d", "global_avg_pool2d")),
        Case("op_global_pools1d", {
            "model": {"input_shape": [6, 3], "layers": [
                {"name": "gmax", "type": "global_max_pool1d", "inputs": ["input"]},
                {"name": "gavg", "type": "global_avg_pool1d", "inputs": ["input"]},
                {"name": "cat", "type": "concatenate", "inputs": ["gmax", "gavg"]},
                {"name": "out", "type": "dense", "units": 3, "activation": "softmax"}]},
            "training": SPARSE}, ("global_max_pool1d", "global_avg_pool1d")),
        Case("op_layer_norm", _seq([3, 5], [{"type": "dense", "units": 4}, {"type": "layer_norm", "epsilon": 0.01},
                                            "flatten"]), ("layer_norm",), notes="per position of a rank-3 input"),
        Case("op_layer_norm_plain", _seq([6], [{"type": "dense", "units": 5, "activation": "tanh"},
                                               {"type": "layer_norm", "epsilon": 1e-5, "center": False,
                                                "scale": False}]), ("layer_norm",), notes="no gamma/beta"),
        Case("op_zero_padding2d", _seq([3, 4, 2], [{"type": "zero_padding2d", "padding": [[1, 0], [2, 1]]},
                                                   _conv(2, 3, 2, activation="tanh"), "flatten"]),
             ("zero_padding2d",), notes="asymmetric padding, then a conv that reads it"),
        Case("op_upsampling2d", _seq([3, 2, 2], [_conv(2, 3, 2, padding="same", activation="tanh"),
                                                 {"type": "upsampling2d", "size": [2, 3]},
                                                 _conv(2, 2, 3, strides=2), "flatten"]),
             ("upsampling2d",), notes="size (2, 3) between two convs"),
        Case("op_spatial_dropout2d", _seq([4, 4, 2], [_conv(2, 4, 2, padding="same", **relu),
                                                      {"type": "spatial_dropout2d", "rate": 0.4}, "flatten"]),
             ("spatial_dropout2d",), notes="one keep value per sample and channel"),
        Case("op_batch_norm_images", _seq([5, 5, 2], [_conv(2, 3, 3, padding="same"),
                                                      {"type": "batch_norm", "momentum": 0.8}, "relu",
                                                      {"type": "max_pool2d"}, "flatten"]),
             ("batch_norm", "conv2d"), notes="batch norm on the channel axis of images"),
    ]


ACTIVATION_VARIANTS: list[dict[str, Any]] = [
    {"type": "linear"}, {"type": "relu"}, {"type": "relu6"},
    {"type": "leaky_relu", "negative_slope": 0.2}, {"type": "elu", "alpha": 0.5}, {"type": "selu"},
    {"type": "gelu", "approximate": False}, {"type": "gelu", "approximate": True},
    {"type": "sigmoid"}, {"type": "hard_sigmoid"}, {"type": "tanh"}, {"type": "softmax"},
    {"type": "softplus"}, {"type": "softsign"}, {"type": "swish"}, {"type": "silu"}, {"type": "mish"},
]
"""Every activation, with non-default parameters where it has any (gelu both ways)."""


def _activation_name(act: dict[str, Any]) -> str:
    extra = "_".join(f"{k}_{v}".replace(".", "p") for k, v in act.items() if k != "type")
    return f"act_{act['type']}" + (f"_{extra}" if extra else "")


def _activation_cases() -> list[Case]:
    cases = []
    for act in ACTIVATION_VARIANTS:
        # As an activation layer after a dense with large weights (pre-activations spread over about ±6) …
        layers = [{"type": "dense", "units": 6, "kernel_init": {"type": "random_normal", "stddev": 1.5}}, dict(act)]
        cases.append(Case(_activation_name(act), _seq([6], layers), (act["type"],)))
    # … and through the `activation =` key of a dense layer.
    cases.append(Case("act_dense_key_leaky_relu", _seq([6], [{"type": "dense", "units": 5,
                                                                "activation": {"type": "leaky_relu", "negative_slope": 0.3}}]),
                      ("leaky_relu",)))
    return cases


INITIALIZER_VARIANTS: list[dict[str, Any]] = [
    {"type": "zeros"}, {"type": "ones"}, {"type": "constant", "value": 0.3},
    {"type": "random_normal", "mean": 0.1, "stddev": 0.5}, {"type": "random_uniform", "minval": -0.3, "maxval": 0.4},
    {"type": "truncated_normal", "mean": 0.0, "stddev": 0.2},
    {"type": "variance_scaling", "scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"},
    {"type": "glorot_normal"}, {"type": "glorot_uniform"}, {"type": "he_normal"}, {"type": "he_uniform"},
    {"type": "lecun_normal"}, {"type": "lecun_uniform"},
]
"""Every initializer, with non-default parameters where it has any."""


def _initializer_cases() -> list[Case]:
    return [
        Case(f"init_{init['type']}", _seq([6], [{"type": "dense", "units": 5, "activation": "tanh",
                                                  "kernel_init": dict(init), "bias_init": dict(init)}]),
             (init["type"],))
        for init in INITIALIZER_VARIANTS
    ]


def _loss_cases() -> list[Case]:
    def single(loss: Any, units: int, activation: str) -> dict[str, Any]:
        return _seq([6], [{"type": "dense", "units": 5, "activation": "relu"}],
                    head={"type": "dense", "units": units, "activation": activation, "name": "out"},
                    training={"loss": loss})

    return [
        Case("loss_mse", single("mse", 2, "linear"), ("mse",)),
        Case("loss_mae", single("mae", 2, "linear"), ("mae",)),
        Case("loss_huber", single({"type": "huber", "delta": 0.5}, 2, "linear"), ("huber",)),
        Case("loss_binary_crossentropy", single({"type": "binary_crossentropy", "label_smoothing": 0.1}, 1, "sigmoid"),
             ("binary_crossentropy",)),
        Case("loss_categorical_crossentropy",
             single({"type": "categorical_crossentropy", "label_smoothing": 0.1}, 3, "softmax"),
             ("categorical_crossentropy",)),
        Case("loss_sparse_categorical_crossentropy", single("sparse_categorical_crossentropy", 3, "softmax"),
             ("sparse_categorical_crossentropy",)),
    ]


def _recurrent() -> list[Case]:
    from .recurrent_cases import recurrent_cases

    return recurrent_cases()


CASES: list[Case] = [*_op_cases(), *_spatial_cases(), *_recurrent(), *_activation_cases(), *_initializer_cases(), *_loss_cases()]
"""Every conformance case, in a stable order (names are unique)."""

CASES_BY_NAME: dict[str, Case] = {c.name: c for c in CASES}
assert len(CASES_BY_NAME) == len(CASES), "duplicate case names"
