"""model_checkpoint: save the weights at epoch ends, atomically (Keras 3 semantics).

* ``path`` is a template relative to the run directory, formatted with
  ``epoch`` (1-based, as Keras does) and every history key of the epoch, e.g.
  ``checkpoints/epoch-{epoch:03d}-{val_loss:.4f}.ckpt``.  An unknown key is
  reported before training starts.
* ``save_best_only``: save only when ``monitor`` is strictly better than the
  best so far (min_delta 0; the first epoch always saves).  A missing monitor
  saves anyway, with a warning, as Keras does.
* What is saved: the canonical weights (``model.get_weights()``, keys
  ``"<node>/<param>"``) as an uncompressed ``.npz`` archive — whatever the
  suffix (``.npz``, ``.ckpt``…) — or, when the suffix is the backend's native
  artifact suffix (``.keras``, ``.pt``…), the backend's own ``model.save``.
* Every file is written to a temporary file in the same directory, fsync-ed and
  renamed over the target (:mod:`dnnc.runner.callbacks.atomic`): a crash leaves
  either the previous checkpoint or the complete new one.
* Weights holding NaN or infinities are never written (a warning says so), so
  the last good checkpoint survives a diverging run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RunnerError
from .atomic import atomic_save_npz, commit, fsync_directory, temp_path_for
from .base import Callback
from .monitor import Monitor


class ModelCheckpoint(Callback):
    def __init__(
        self,
        path: str = "checkpoints/epoch-{epoch:03d}.ckpt",
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
    ) -> None:
        self.template = str(path)
        self.watch = Monitor("model_checkpoint", monitor, mode, 0.0)
        self.save_best_only = bool(save_best_only)
        self.best: float | None = None
        self.saved: list[Path] = []

    def _root(self) -> Path:
        run_dir = self.context.run_dir
        return Path(run_dir) if run_dir is not None else Path.cwd()

    def on_train_begin(self, logs=None) -> None:
        self.best = None
        self.saved = []
        if self.save_best_only:
            self.watch.resolve(self.context)
        dummy = {key: 0.0 for key in self.context.history_keys()}
        try:
            self.template.format(epoch=1, **dummy)
        except (KeyError, IndexError, ValueError) as exc:
            raise RunnerError(
                f"model_checkpoint: cannot format the path {self.template!r} ({type(exc).__name__}: {exc}); it may use "
                f"{{epoch}} and the history keys {', '.join(sorted(dummy)) or 'none'}"
            ) from None

    def state(self) -> dict:
        return {"best": self.best, "saved": [str(p) for p in self.saved]}

    def restore(self, state: dict) -> None:
        self.best = state["best"]
        self.saved = [Path(p) for p in state["saved"]]

    def path_for(self, epoch: int, logs: dict[str, float]) -> Path:
        path = Path(self.template.format(epoch=epoch + 1, **logs))
        return path if path.is_absolute() else self._root() / path

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.save_best_only:
            current = self.watch.value(logs)
            if current is None:
                if self.watch.available:
                    self.context.message(f"model_checkpoint: {self.watch.monitor!r} is missing; saving anyway", "warning")
            elif self.watch.is_improvement(current, self.best):
                self.best = current
            else:
                return
        self.save(self.path_for(epoch, logs), epoch)

    def save(self, path: Path, epoch: int) -> Path | None:
        weights = self.model.get_weights()
        bad = [k for k, v in weights.items() if not np.all(np.isfinite(v))]
        if bad:
            self.context.message(
                f"model_checkpoint: not saving epoch {epoch + 1} to {path}: weights {', '.join(bad[:3])}"
                f"{'…' if len(bad) > 3 else ''} hold NaN or infinite values (the previous checkpoint is kept)",
                "warning",
            )
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        native = self.context.artifact_suffix
        if native and path.name.endswith(native):
            save_native_atomically(self.model, path, native)
        else:
            atomic_save_npz(path, weights)
        self.saved.append(path)
        return path


def save_native_atomically(model, path: Path, suffix: str) -> list[Path]:
    """``model.save`` into a temporary name with the native suffix, then rename each file over its target."""
    temp = temp_path_for(path, suffix=suffix)
    temp.unlink()  # some savers refuse to overwrite; the name stays reserved by its random part
    try:
        written = [Path(p) for p in (model.save(temp) or [temp])]
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    out = []
    stem_old, stem_new = temp.name[: -len(suffix)], path.name[: -len(suffix)]
    for file in written:
        target = path if file == temp else file.with_name(file.name.replace(stem_old, stem_new, 1))
        out.append(commit(file, target))
    fsync_directory(path.parent)
    return out


__all__ = ["ModelCheckpoint", "save_native_atomically"]
