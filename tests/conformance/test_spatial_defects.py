"""The numeric level catches the classic CNN porting bugs: each planted in the real torch backend fails.

Every spatial case passes for keras and torch (``test_numeric_level.py``); here one defect at a time is
patched into the torch backend's modules — the mistakes issue 16 lists — and the case that exercises it
must fail the numeric level against the oracle (the structure level still passes: every defect keeps
the parameter shapes and counts).
"""

from __future__ import annotations

import numpy as np
import pytest

from dnnc.conformance.cases import CASES_BY_NAME
from dnnc.conformance.results import FAIL, PASS
from dnnc.conformance.test_kit import case_levels

torch = pytest.importorskip("torch")


class _PadIgnoringValue:
    """torch.nn.functional with ``pad`` always padding zeros (max pooling padded with 0 instead of −∞)."""

    def __getattr__(self, name):
        return getattr(torch.nn.functional, name)

    @staticmethod
    def pad(x, pads, value=0.0):
        return torch.nn.functional.pad(x, pads)


def _torch_pads(monkeypatch):
    """'same' padding with the odd cell before (the wrong side) instead of TensorFlow's after."""
    from dnnc.backends.torch import spatial
    from dnnc.compiler.ops_spatial import padding_amounts

    monkeypatch.setattr(spatial, "padding_amounts", lambda *a: tuple(reversed(padding_amounts(*a))))


def _avg_counts_padding(monkeypatch):
    from dnnc.backends.torch import spatial

    init = spatial.Pool.__init__

    def counting(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if hasattr(self, "count"):
            self.count = torch.full_like(self.count, float(np.prod(self.window)))

    monkeypatch.setattr(spatial.Pool, "__init__", counting)


def _max_pool_pads_zeros(monkeypatch):
    from dnnc.backends.torch import spatial

    monkeypatch.setattr(spatial, "F", _PadIgnoringValue())


def _flatten_channels_first(monkeypatch):
    from dnnc.backends.torch import modules

    monkeypatch.setattr(modules.Flatten, "forward", lambda self, x: x.movedim(-1, 1).reshape(x.shape[0], -1))


def _kernel_reversed(monkeypatch):
    """``kernel.T`` for every kernel (right for dense, (out, in, kw, kh) for a convolution)."""
    from dnnc.backends.torch import model, probe

    reverse = lambda a: np.array(np.asarray(a).T, dtype=np.float32, order="C", copy=True)  # noqa: E731
    for module, names in ((model, ("to_torch", "from_torch")), (probe, ("from_torch",))):
        for name in names:
            monkeypatch.setattr(module, name, reverse)


def _layer_norm_torch_epsilon(monkeypatch):
    """torch's default epsilon 1e-5 instead of the IR's."""
    from dnnc.backends.torch import modules

    init = modules.LayerNorm.__init__
    monkeypatch.setattr(modules.LayerNorm, "__init__", lambda self, c, eps, *rest: init(self, c, 1e-5, *rest))


def _spatial_dropout_elementwise(monkeypatch):
    """Spatial dropout given an element-wise mask: the first channel's keep value spread over every channel."""
    from dnnc.backends.torch import modules

    def forward(self, x, mask=None):
        if not self.training or mask is None:
            return x
        return x * mask[..., :1].to(x.dtype) / (1.0 - self.rate)

    monkeypatch.setattr(modules.SpatialDropout2D, "forward", forward)


DEFECTS = {
    "same_padding_odd_cell_before": (_torch_pads, "op_conv2d_even_same_stride2"),
    "avg_pool_counts_padded_cells": (_avg_counts_padding, "op_avg_pool2d_same_overlap"),
    "max_pool_pads_with_zeros": (_max_pool_pads_zeros, "op_max_pool2d_same_overlap"),
    "flatten_channels_first": (_flatten_channels_first, "op_conv2d"),
    "conv_kernel_transposed": (_kernel_reversed, "op_conv2d"),
    "layer_norm_epsilon_1e-5": (_layer_norm_torch_epsilon, "op_layer_norm"),
    "spatial_dropout_one_mask_per_sample": (_spatial_dropout_elementwise, "op_spatial_dropout2d"),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_planted_defect_fails_the_numeric_level(defect, monkeypatch):
    from dnnc.plugins.manager import get_registry

    plant, case = DEFECTS[defect]
    plant(monkeypatch)
    structure, numeric = case_levels(CASES_BY_NAME[case], get_registry().available_backend("torch"))
    assert structure.verdict == PASS, [c.message for c in structure.failures]
    assert numeric.verdict == FAIL and not numeric.error, numeric.error
    assert any("output" in c.message or "loss" in c.message or "gradient" in c.message for c in numeric.failures)


def test_strict_parity_masks_of_spatial_dropout_have_one_value_per_channel():
    from dnnc.runner.dropout import DropoutMasks

    ir = CASES_BY_NAME["op_spatial_dropout2d"].ir()
    masks = DropoutMasks(ir, seed=0).for_step(3, batch_size=5)
    (name,) = masks
    assert ir.node(name).op == "spatial_dropout2d" and masks[name].shape == (5, 1, 1, 4)
    assert set(np.unique(masks[name])) <= {0.0, 1.0}
