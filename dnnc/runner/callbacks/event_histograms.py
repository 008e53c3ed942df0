"""Histogram summaries in TensorBoard event files, written without TensorFlow (see :mod:`.event_writer`).

A histogram is TensorBoard's ``HistogramProto`` (``tensorboard.compat.proto``):
``min``, ``max``, ``num``, ``sum``, ``sum_squares`` of the finite values and
:data:`BUCKETS` equal-width buckets from ``min`` to ``max`` (``bucket_limit``
holds each bucket's right edge, ``bucket`` its count; a constant array is one
bucket).  Non-finite values are left out.  TensorBoard's histogram and
distribution dashboards read these summaries, as they read ``tf.summary.histogram``'s.
"""

from __future__ import annotations

import time
from typing import Mapping

import numpy as np

from .event_writer import ScalarEventWriter

BUCKETS = 30


def histogram_proto(values: np.ndarray, buckets: int = BUCKETS):
    """The ``HistogramProto`` of the finite values of an array."""
    from tensorboard.compat.proto import summary_pb2

    a = np.asarray(values, dtype=np.float64).reshape(-1)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return summary_pb2.HistogramProto(min=0.0, max=0.0, num=0, sum=0.0, sum_squares=0.0)
    lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        limits, counts = [hi], [float(a.size)]
    else:
        counts_array, edges = np.histogram(a, bins=buckets, range=(lo, hi))
        limits, counts = edges[1:].tolist(), counts_array.astype(np.float64).tolist()
    return summary_pb2.HistogramProto(min=lo, max=hi, num=float(a.size), sum=float(a.sum()),
                                      sum_squares=float(np.square(a).sum()), bucket_limit=limits, bucket=counts)


class HistogramEventWriter(ScalarEventWriter):
    """A :class:`ScalarEventWriter` that also writes histograms."""

    def histograms(self, values: Mapping[str, np.ndarray], step: int) -> None:
        """One event holding the histogram of every ``tag → array`` at ``step``."""
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, histo=histogram_proto(v)) for tag, v in values.items()]
        )
        self._write(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))
