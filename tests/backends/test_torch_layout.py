"""The one kernel-layout conversion of the torch backend (dnnc/backends/torch/layout.py)."""

from __future__ import annotations

import numpy as np

from dnnc.backends.torch.layout import from_torch, to_torch, torch_shape


def test_conv2d_kernel_goes_to_filters_in_kh_kw_and_back():
    k = np.arange(3 * 2 * 4 * 5, dtype=np.float32).reshape(3, 2, 4, 5)  # (kh, kw, in, filters)
    w = to_torch(k)
    assert w.shape == torch_shape(k.shape) == (5, 4, 3, 2) and w.flags["C_CONTIGUOUS"]
    for f, c, i, j in [(0, 0, 0, 0), (4, 3, 2, 1), (1, 2, 0, 1)]:
        assert w[f, c, i, j] == k[i, j, c, f]
    np.testing.assert_array_equal(from_torch(w), k)


def test_dense_and_conv1d_kernels_are_transposed_and_vectors_unchanged():
    dense = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(to_torch(dense), dense.T)
    conv1d = np.arange(24, dtype=np.float32).reshape(2, 3, 4)  # (k, in, filters)
    np.testing.assert_array_equal(to_torch(conv1d), conv1d.transpose(2, 1, 0))
    np.testing.assert_array_equal(from_torch(to_torch(conv1d)), conv1d)
    bias = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(to_torch(bias), bias)
