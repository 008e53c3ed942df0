"""Training callbacks (`[[training.callbacks]]`), implemented once by the runner for every backend."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from .base import StrictModel

Mode = Literal["auto", "min", "max"]


class EarlyStopping(StrictModel):
    """Stop when `monitor` has not improved for `patience` epochs (Keras 3 semantics)."""

    type: Literal["early_stopping"]
    monitor: str = Field("val_loss", description="History key to watch (default val_loss).")
    mode: Mode = Field("auto", description="min, max, or auto: min for names ending in 'loss' or error metrics, max otherwise.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change counted as an improvement (default 0).")
    patience: int = Field(0, ge=0, description="Epochs without improvement before stopping (default 0).")
    baseline: Optional[float] = Field(None, description="Value the monitor must beat to reset patience (default none).")
    restore_best_weights: bool = Field(False, description="Restore the best epoch's weights at the end (default false).")
    start_from_epoch: int = Field(0, ge=0, description="Epochs to wait before monitoring (default 0).")


class ModelCheckpoint(StrictModel):
    """Save the weights (atomically: temp file then rename) at epoch ends."""

    type: Literal["model_checkpoint"]
    path: str = Field(
        "checkpoints/epoch-{epoch:03d}.ckpt",
        min_length=1,
        description="File path template, relative to the run directory; may use {epoch} and any history key, e.g. {val_loss:.4f}.",
    )
    monitor: str = Field("val_loss", description="History key for save_best_only (default val_loss).")
    mode: Mode = Field("auto", description="min, max or auto (default auto).")
    save_best_only: bool = Field(False, description="Only save when the monitor improves (default false).")


class ReduceLROnPlateau(StrictModel):
    """Multiply the learning rate by `factor` when `monitor` stops improving (Keras 3 semantics)."""

    type: Literal["reduce_lr_on_plateau"]
    monitor: str = Field("val_loss", description="History key to watch (default val_loss).")
    mode: Mode = Field("auto", description="min, max or auto (default auto).")
    factor: float = Field(0.1, gt=0, lt=1, description="Multiplier in (0, 1) (default 0.1).")
    patience: int = Field(10, ge=0, description="Epochs without improvement before reducing (default 10).")
    min_delta: float = Field(1e-4, ge=0, description="Absolute improvement threshold (default 1e-4).")
    cooldown: int = Field(0, ge=0, description="Epochs to wait after a reduction (default 0).")
    min_lr: float = Field(0.0, ge=0, description="Lower bound of the learning rate (default 0).")


class TensorBoard(StrictModel):
    """Write per-epoch scalars (losses, metrics, learning rate) as TensorBoard event files."""

    type: Literal["tensorboard"]
    log_dir: str = Field("tensorboard", min_length=1, description="Directory, relative to the run directory (default tensorboard).")


class CsvLogger(StrictModel):
    """Append one CSV row of the history per epoch."""

    type: Literal["csv_logger"]
    path: str = Field("history.csv", min_length=1, description="File, relative to the run directory (default history.csv).")
    append: bool = Field(False, description="Append to an existing file instead of overwriting (default false).")


class Histograms(StrictModel):
    """Per-layer histograms (the `dnnc inspect` measurements) before training and every `every_epochs` epochs.

    TensorBoard histograms of every shown layer's activations and gradients and of every weight and
    weight gradient, and PNG grids of the activations and gradients (see docs/inspect.md).
    """

    type: Literal["histograms"]
    every_epochs: int = Field(1, ge=1, description="Write after every N-th epoch (default 1); also before the first.")
    rows: int = Field(1000, ge=1, description="The first N rows of `split` are measured (default 1000; all if fewer).")
    split: Literal["train", "validation"] = Field("train", description="Rows measured: train or validation (default train).")
    log_dir: str = Field("tensorboard/histograms", min_length=1,
                         description="TensorBoard directory, relative to the run directory (default tensorboard/histograms).")
    png_dir: str = Field("histograms", min_length=1,
                         description="Directory of the PNG grids (epoch-NNN/activations.png, gradients.png, "
                                     "weight_gradients.png), relative to the run directory (default histograms).")
    pngs: bool = Field(True, description="Write the PNG grids (default true).")
    pre_activations: bool = Field(False, description="Also the pre-activations (default false).")


class TerminateOnNaN(StrictModel):
    """Stop training as soon as the loss becomes NaN or infinite."""

    type: Literal["terminate_on_nan"]


class Unfreeze(StrictModel):
    """Make frozen layers (`trainable = false`) trainable after some epochs, optionally with a new learning rate:
    the second phase of fine-tuning transferred layers.

    At the start of the epoch after `after_epochs` epochs the layers' weights join the gradients (a frozen
    batch_norm leaves inference mode) and the optimizer starts afresh over the trained weights (new slots,
    iteration count 0), as recompiling a Keras model does.
    """

    type: Literal["unfreeze"]
    after_epochs: int = Field(
        ..., ge=1, description="Epochs trained with the layers frozen: 4 trains epochs 1–4 frozen, 5 on unfrozen (required)."
    )
    layers: Optional[list[str]] = Field(
        None, min_length=1, description="Names of the frozen layers to unfreeze (default: every frozen layer)."
    )
    learning_rate: Optional[float] = Field(
        None,
        gt=0,
        description=(
            "The learning rate of the first unfrozen step; later steps follow the optimizer's schedule scaled by the "
            "same factor (default: the rate goes on unchanged)."
        ),
    )


BUILTIN_CALLBACK_MODELS: list[type[StrictModel]] = [
    EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TensorBoard, CsvLogger, TerminateOnNaN, Histograms, Unfreeze,
]
