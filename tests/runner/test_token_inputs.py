"""Token inputs (`dtype = "int64"` on a model input) read by `embedding`: where they may go, and how their ids are
checked against the data (the runner's data preparation) and against every batch (both backends)."""

from __future__ import annotations

import numpy as np
import pytest

import dnnc
from dnnc.compiler.errors import SpecError
from dnnc.runner.api import get_backend, load_datasets
from dnnc.runner.datasets.errors import DataError


def _spec(dataset=None, layers=None, dtype="int64", **data) -> dict:
    spec = {"model": {"inputs": [{"name": "tokens", "shape": [4], "dtype": dtype}],
                      "layers": layers or [{"type": "embedding", "input_dim": 5, "output_dim": 2}, "flatten",
                                           {"type": "dense", "units": 2, "activation": "softmax"}]},
            "training": {"loss": "sparse_categorical_crossentropy", "optimizer": "sgd"}}
    if dataset is not None:
        spec["data"] = {"dataset": dataset, **data}
    return spec


@pytest.mark.parametrize("dtype, layers, text", [
    ("float32", None, 'its input must be a model input with dtype = "int64"'),
    ("int64", [{"type": "dense", "units": 2}], "an int64 (token id) input can only feed embedding layers"),
])
def test_token_inputs_feed_only_embeddings(dtype, layers, text):
    with pytest.raises(SpecError) as info:
        dnnc.compile_spec(_spec(layers=layers, dtype=dtype), name="m")
    assert text in str(info.value) and "model.layers[0]:" in str(info.value)


def test_ir_records_the_dtype_and_keeps_it_through_json():
    ir = dnnc.compile_spec(_spec(), name="m")
    assert ir.node("tokens").attrs.dtype == "int64"
    assert type(ir).from_json(ir.to_json()) == ir


def _npz(tmp_path, x, y):
    path = tmp_path / "tokens.npz"
    np.savez(path, x=x, y=y)
    return {"type": "npz", "path": str(path)}


def test_data_token_ids_stay_int64_and_are_checked(tmp_path):
    y = np.array([0, 1, 1], dtype=np.int64)
    ok = _npz(tmp_path, np.array([[0, 1, 2, 3], [4, 4, 0, 1], [2, 2, 2, 2]], dtype=np.int32), y)
    ds = load_datasets(dnnc.compile_spec(_spec(ok), name="m"), base_dir=tmp_path, download=False)
    assert ds.train.inputs["tokens"].dtype == np.int64
    np.testing.assert_array_equal(ds.train.inputs["tokens"][1], [4, 4, 0, 1])
    cases = [
        (np.zeros((3, 4), np.float32), {}, "the data holds float32 values"),
        (np.full((3, 4), 5, np.int64), {}, "token ids must lie in 0 … 4"),
        (np.zeros((3, 4), np.int64), {"divide_by": 2}, "divide_by does not apply to input 'tokens'"),
    ]
    for x, extra, text in cases:
        ir = dnnc.compile_spec(_spec(_npz(tmp_path, x, y), **extra), name="m")
        with pytest.raises(DataError, match=text):
            load_datasets(ir, base_dir=tmp_path, download=False)


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_backends_refuse_float_or_out_of_range_ids(backend):
    ir = dnnc.compile_spec(_spec(), name="m")
    model = get_backend(backend, ir).build(ir, dnnc.initial_weights(ir))
    ids = np.array([[0, 1, 2, 4]], dtype=np.int64)
    out = model.forward({"tokens": ids})  # values: the conformance cases op_embedding*
    assert out[ir.outputs[0].name].shape == (1, 2) and np.isfinite(out[ir.outputs[0].name]).all()
    with pytest.raises(ValueError, match="must be an integer array"):
        model.forward({"tokens": ids.astype(np.float32)})
    with pytest.raises(ValueError, match="token ids must lie in 0 … 4"):
        model.forward({"tokens": ids + 1})
