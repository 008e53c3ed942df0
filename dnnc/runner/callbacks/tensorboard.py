"""tensorboard: per-epoch scalars as TensorBoard event files, laid out as Keras lays them out.

``<run dir>/<log_dir>/train``: ``epoch_<key>`` for every training key (``epoch_loss``,
``epoch_accuracy``…) and ``epoch_learning_rate`` (the rate of the next step);
``<log_dir>/validation``: the ``val_`` keys without their prefix (``epoch_loss``…);
``<log_dir>/test``: the final test metrics (``epoch_loss``…) at the last epoch.
The step is the 1-based epoch number.  View with ``tensorboard --logdir <run dir>/<log_dir>``.
A resumed run appends to the same event files, cut back to their size at the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from .base import Callback
from .event_writer import ScalarEventWriter


class TensorBoard(Callback):
    def __init__(self, log_dir: str = "tensorboard") -> None:
        self.log_dir = str(log_dir)
        self.writers: dict[str, ScalarEventWriter] = {}
        self._last_epoch = 0

    @property
    def directory(self) -> Path:
        path = Path(self.log_dir)
        run_dir = self.context.run_dir
        return path if path.is_absolute() or run_dir is None else Path(run_dir) / path

    def _writer(self, part: str) -> ScalarEventWriter:
        if part not in self.writers:
            self.writers[part] = ScalarEventWriter(self.directory / part)
        return self.writers[part]

    def on_train_begin(self, logs=None) -> None:
        if not self.context.resumed:  # a resumed run reopens its files in restore()
            self._writer("train")

    def state(self) -> dict:
        for writer in self.writers.values():
            writer.flush()
        return {"last_epoch": self._last_epoch,
                "files": {part: {"name": w.path.name, "size": w.size()} for part, w in self.writers.items()}}

    def restore(self, state: dict) -> None:
        self._last_epoch = int(state["last_epoch"])
        for part, entry in state["files"].items():
            self.writers[part] = ScalarEventWriter(self.directory / part, existing=entry["name"], size=int(entry["size"]))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        step = epoch + 1
        self._last_epoch = step
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith(("val_", "test_"))}
        train.setdefault("epoch_learning_rate", self.context.learning_rate())
        self._writer("train").scalars(train, step)
        val = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self._writer("validation").scalars(val, step)
        for writer in self.writers.values():
            writer.flush()

    def on_test_end(self, logs: dict[str, float]) -> None:
        test = {f"epoch_{k[5:]}": v for k, v in logs.items() if k.startswith("test_")}
        if test:
            writer = self._writer("test")
            writer.scalars(test, self._last_epoch)
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
