"""histograms: the `dnnc inspect` measurements of every layer, as TensorBoard histograms and PNG grids.

Before the first epoch (step = the starting epoch, 0 for a fresh run: the
initial weights) and after every ``every_epochs``-th epoch (step = the 1-based
epoch number, as the tensorboard callback counts), the first ``rows`` rows of
the ``split`` go through the model once in inference mode
(``CompiledModel.probe``, :mod:`dnnc.inspection.collect`) and the callback writes

* to ``<run dir>/<log_dir>`` (default ``tensorboard/histograms``) one event
  with the histograms ``activations/<node>``, ``output_gradients/<node>``
  (∂loss/∂output), ``weights/<node>/<param>`` and
  ``weight_gradients/<node>/<param>`` of every shown layer (and
  ``pre_activations/<node>`` when asked), readable by TensorBoard's histogram
  and distribution dashboards (``tensorboard --logdir <run dir>/tensorboard``);
* with ``pngs``, ``<run dir>/<png_dir>/epoch-NNN/activations.png``,
  ``gradients.png`` (∂loss/∂output), ``weight_gradients.png`` (and
  ``pre_activations.png``): the grids of :mod:`dnnc.inspection.plots`.

A resumed run (``dnnc resume``) does not measure again at its start: it appends
to the same event file, cut back to its size at the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from ...backends.base import BackendError
from ..errors import RunnerError
from .base import Callback
from .event_histograms import HistogramEventWriter

GRIDS = {"activations": "activations.png", "output_gradient": "gradients.png",
         "weight_gradients": "weight_gradients.png", "pre_activations": "pre_activations.png"}


class Histograms(Callback):
    def __init__(self, every_epochs: int = 1, rows: int = 1000, split: str = "train",
                 log_dir: str = "tensorboard/histograms", png_dir: str = "histograms", pngs: bool = True,
                 pre_activations: bool = False) -> None:
        self.every_epochs = int(every_epochs)
        self.rows = int(rows)
        self.split_name = str(split)
        self.log_dir = str(log_dir)
        self.png_dir = str(png_dir)
        self.pngs = bool(pngs)
        self.pre_activations = bool(pre_activations)
        self.writer: HistogramEventWriter | None = None
        #: Every PNG written, in order.
        self.written: list[Path] = []
        self._batch = None

    def _path(self, path: str) -> Path:
        p = Path(path)
        run_dir = self.context.run_dir
        return p if p.is_absolute() or run_dir is None else Path(run_dir) / p

    def on_train_begin(self, logs=None) -> None:
        self._batch = self.context.rows(self.split_name, self.rows)
        if self._batch is None or self._batch.n == 0:
            raise RunnerError(f"histograms: the data has no {self.split_name} rows to measure")
        if self.context.resumed:
            return  # restore() reopens the event file; the start was measured when the run began
        self.writer = HistogramEventWriter(self._path(self.log_dir))
        self._measure(self.context.start_epoch)

    def state(self) -> dict:
        self.writer.flush()
        return {"file": self.writer.path.name, "size": self.writer.size(), "written": [str(p) for p in self.written]}

    def restore(self, state: dict) -> None:
        self.writer = HistogramEventWriter(self._path(self.log_dir), existing=state["file"], size=int(state["size"]))
        self.written = [Path(p) for p in state["written"]]

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every_epochs == 0:
            self._measure(epoch + 1)

    def _measure(self, step: int) -> None:
        from ...inspection.collect import inspect_model

        ir = self.context.ir
        try:
            inspection = inspect_model(self.model, ir, self._batch.inputs, self._batch.targets,
                                       pre_activations=self.pre_activations)
        except BackendError as exc:
            raise RunnerError(f"histograms: {exc}") from None
        values = {}
        for arrays in inspection.layers:
            node = arrays.layer.node
            values[f"activations/{node}"] = arrays.activations
            if arrays.pre_activations is not None:
                values[f"pre_activations/{node}"] = arrays.pre_activations
            values[f"output_gradients/{node}"] = arrays.output_gradient
            for param, w in arrays.weights.items():
                values[f"weights/{node}/{param}"] = w
                if param in arrays.gradients:
                    values[f"weight_gradients/{node}/{param}"] = arrays.gradients[param]
        self.writer.histograms(values, step)
        self.writer.flush()
        if self.pngs:
            from ...inspection.plots import QUANTITIES, histogram_grid

            folder = self._path(self.png_dir) / f"epoch-{step:03d}"
            for quantity, filename in GRIDS.items():
                if quantity == "pre_activations" and not self.pre_activations:
                    continue
                title = (f"{ir.name} ({inspection.backend}), epoch {step}: {QUANTITIES[quantity]} "
                         f"({inspection.rows} {self.split_name} rows)")
                self.written.append(histogram_grid([inspection], quantity, folder / filename, title=title))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
