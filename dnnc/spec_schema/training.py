"""The `[training]` and `[conformance]` tables."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from .base import StrictModel
from .losses import LossSpec
from .metrics import MetricSpec
from .optimizers import OptimizerSpec


MAX_SEED = 2**32 - 1
"""The largest seed: every backend's generator takes a 32-bit unsigned seed (TensorFlow's global seed is a
signed 64-bit integer, NumPy's legacy seeding 32 bits), with room for the offsets dnnc adds to a seed."""


def _class_index_key(key: str) -> str:
    if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
        raise ValueError('not a class index: the keys of class_weight are the classes 0, 1, 2… written as strings, '
                         'e.g. "0" = 1.0')
    return key


ClassIndexKey = Annotated[str, AfterValidator(_class_index_key)]


def _device_name(value: str) -> str:
    from ..backends.devices import ALLOWED_TEXT, is_device_name

    if not is_device_name(value):
        raise PydanticCustomError("device_name", "not a device (allowed: {allowed})", {"allowed": ALLOWED_TEXT})
    return value


DeviceName = Annotated[str, AfterValidator(_device_name)]


def _single_or_per_output(value: Any) -> str:
    """A table without `type` maps output names to values; anything else is one value for all outputs."""
    return "per_output" if isinstance(value, dict) and "type" not in value else "single"


LossField = Annotated[
    Union[
        Annotated[LossSpec, Tag("single")],
        Annotated[dict[str, LossSpec], Tag("per_output")],
    ],
    Discriminator(_single_or_per_output),
]

MetricsField = Annotated[
    Union[
        Annotated[list[MetricSpec], Tag("single")],
        Annotated[dict[str, list[MetricSpec]], Tag("per_output")],
    ],
    Discriminator(_single_or_per_output),
]


class CheckpointSpec(StrictModel):
    """Resumable checkpoints of the whole training state (what `dnnc resume` continues from).

    One file, ``checkpoint.npz`` in the run directory, replaced atomically each time: the weights (moving
    statistics included), the optimizer's slots and iteration count, the position in the batch order, the
    dropout generators, the learning-rate factor, which layers were unfrozen, every callback's state, the
    history so far and, mid-epoch, the epoch's running metric sums.
    """

    every_epochs: int = Field(1, ge=0, description="Write one at the end of every N-th epoch (default 1; 0: not at epoch ends).")
    every_steps: int = Field(
        0, ge=0, description="Also write one after every N-th optimizer step, counted over the whole run (default 0: never mid-epoch)."
    )
    min_seconds: float = Field(
        5.0,
        ge=0,
        description=(
            "Skip a checkpoint due less than this many seconds after the previous one, so that tiny epochs do not "
            "spend their time writing (default 5; 0: write every one). The end of the last epoch always gets one, "
            "unless every_epochs and every_steps are both 0 (no checkpoints)."
        ),
    )


class TrainingSectionBase(StrictModel):
    """Fields of `[training]` other than `callbacks` (whose union depends on the installed plugins)."""

    loss: Optional[LossField] = Field(
        None, description="The loss, or a table output name → loss for several outputs. Required to train."
    )
    loss_weights: Optional[dict[str, Annotated[float, Field(ge=0)]]] = Field(
        None, description="Output name → weight of its loss in the total (default 1.0 each)."
    )
    metrics: MetricsField = Field(default_factory=list, description="Metrics, or a table output name → metrics.")
    optimizer: OptimizerSpec = Field(default="adam", validate_default=True, description="Optimizer (default adam).")
    batch_size: int = Field(32, gt=0, description="Training batch size (default 32).")
    validation_batch_size: Optional[int] = Field(None, gt=0, description="Evaluation batch size (default: batch_size).")
    epochs: int = Field(10, ge=1, description="Number of epochs (default 10).")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the initial weights, the batch order and dropout masks (default 0).")
    class_weight: Optional[dict[ClassIndexKey, Annotated[float, Field(ge=0)]]] = Field(
        None, description='Class index (as a string key, "0", "1"…) → sample weight, for a model with one output '
                          "and a classification loss; classes not listed weigh 1.0."
    )
    strict_parity: bool = Field(
        False,
        description="Draw dropout masks from the seed and use deterministic kernels so backends follow one trajectory (default false).",
    )
    device: DeviceName = Field(
        "auto",
        description=(
            'Where the backend runs the model: "auto" (default: resolved when the model is built, by the backend: '
            "torch takes the first CUDA GPU it sees and the CPU otherwise, Keras follows TensorFlow's placement), "
            '"cpu", "cuda" (the first GPU), "cuda:N" or "mps". The run manifest records the concrete device; '
            "`--device` overrides this value. A device this machine does not have is an error when the model is built."
        ),
    )
    steps_per_execution: int = Field(
        16, ge=1, le=4096,
        description=(
            "Training steps the backend runs per call (default 16), as Keras's `steps_per_execution`: the data "
            "stays in the backend, the steps of a call run back to back (Keras: in one compiled function) and the "
            "metrics are read back once per call. The results are the same for every value; a callback that needs "
            "the model after each step (terminate_on_nan, plugin callbacks) makes it 1."
        ),
    )
    compile: bool = Field(
        False,
        description=(
            "Compile the training step with the backend's own compiler (default false): torch `torch.compile` "
            "(inductor; CUDA graphs on a GPU), Keras XLA (`jit_compile`). The first steps of each batch size pay "
            "the compilation (done before the first epoch); the float32 roundings differ from the uncompiled "
            "step, so results agree within the conformance tolerances, not bit for bit. Not with strict_parity. "
            "A backend without a compiler runs the step as it is; the run manifest records what was compiled."
        ),
    )
    checkpoint: CheckpointSpec = Field(
        default_factory=CheckpointSpec,
        description="Resumable checkpoints for `dnnc resume` (default: at the end of every epoch, at most one per 5 seconds, and after the last epoch).",
    )


class ConformanceSection(StrictModel):
    """Settings of `dnnc conform` for this spec."""

    accuracy_tolerance: float = Field(
        0.5, gt=0, description="Allowed difference of mean test accuracy between backends, in percentage points (default 0.5)."
    )
    seeds: int = Field(
        2, ge=2, le=1000, description="Seeds trained per backend before the training level first looks at the interval (default 2)."
    )
    max_seeds: int = Field(
        20, ge=2, le=1000, description="Seeds per backend after which an undecided training level is INCONCLUSIVE (default 20)."
    )
    confidence: float = Field(
        0.95, gt=0, lt=1,
        description="Confidence of the decision, spent over every look at the interval of the difference (default 0.95).",
    )
    drift_epochs: int = Field(
        1, ge=0, le=1000, description="Epochs of the float32 drift calibration per seed; 0 leaves it out (default 1)."
    )
    drift_factor: float = Field(
        10.0, gt=1,
        description="Largest allowed ratio of the cross-backend drift to the reference's 1-ulp control drift (default 10).",
    )

    @model_validator(mode="after")
    def _cap_not_below_first_look(self) -> "ConformanceSection":
        if self.max_seeds < self.seeds:
            raise ValueError(f"max_seeds ({self.max_seeds}) must be at least seeds ({self.seeds})")
        return self
