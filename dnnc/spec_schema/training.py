"""The `[training]` and `[conformance]` tables."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from pydantic import Discriminator, Field, Tag, model_validator

from .base import StrictModel
from .losses import LossSpec
from .metrics import MetricSpec
from .optimizers import OptimizerSpec


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
    seed: int = Field(0, ge=0, description="Seed of the initial weights, the batch order and dropout masks (default 0).")
    class_weight: Optional[dict[str, Annotated[float, Field(ge=0)]]] = Field(
        None, description="Class index (as a string key) → sample weight for classification losses."
    )
    strict_parity: bool = Field(
        False,
        description="Draw dropout masks from the seed and use deterministic kernels so backends follow one trajectory (default false).",
    )


class ConformanceSection(StrictModel):
    """Settings of `dnnc conform` for this spec."""

    accuracy_tolerance: float = Field(
        0.5, gt=0, description="Allowed difference of mean test accuracy between backends, in percentage points (default 0.5)."
    )
    seeds: int = Field(
        2, ge=2, description="Seeds trained per backend before the training level first looks at the interval (default 2)."
    )
    max_seeds: int = Field(
        20, ge=2, description="Seeds per backend after which an undecided training level is INCONCLUSIVE (default 20)."
    )
    confidence: float = Field(
        0.95, gt=0, lt=1,
        description="Confidence of the decision, spent over every look at the interval of the difference (default 0.95).",
    )
    drift_epochs: int = Field(
        1, ge=0, description="Epochs of the float32 drift calibration per seed; 0 leaves it out (default 1)."
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
