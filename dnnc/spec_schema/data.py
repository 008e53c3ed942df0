"""The `[data]` table: which data set to load and how to prepare it.

A data set is either built in (`mnist`, `fashion_mnist`, `xor`, `gaussian`, `california_housing`, `imdb`) or one of the
user's own files (`npz`, `csv`).  The string shorthand ``dataset = "mnist"``
equals ``dataset = { type = "mnist" }``.  The runner turns this table into
numpy arrays with :func:`dnnc.runner.datasets.load_data`; the order of the
preparation steps is: split off the test rows (`test_split`), split off the
validation rows (`validation_split` or `validation`), `divide_by`, `reshape`,
`standardize` (fitted on the training rows only), then the labels.  `classes`
selects and relabels rows before everything else; `train_rows` keeps the first
training rows once the validation rows are taken.
"""

from __future__ import annotations

import math

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, PositiveInt, model_validator

from .base import StrictModel, type_shorthand
from .training import MAX_SEED

# --------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------


class MnistDataset(StrictModel):
    """MNIST handwritten digits: 60,000 training and 10,000 test images of 28×28 uint8 pixels, labels 0–9."""

    type: Literal["mnist"]
    path: str | None = Field(
        None,
        description=(
            "Directory holding the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; un-gzipped copies also work), directly or "
            "in a subdirectory `mnist`; relative to the spec file. Default: none, the files are searched for in "
            "--data-dir, $DNNC_DATA_DIR, the user cache (~/.cache/dnnc/mnist), /usr/share/datasets/mnist, "
            "and downloaded into the cache (SHA-256 checked) when not found."
        ),
    )


class FashionMnistDataset(StrictModel):
    """Fashion-MNIST: 60,000 training and 10,000 test images of clothing, 28×28 uint8 pixels, labels 0–9."""

    type: Literal["fashion_mnist"]
    path: str | None = Field(
        None,
        description=(
            "Directory holding the four IDX files (same names as MNIST's), directly or in a subdirectory "
            "`fashion-mnist` (or `fashion_mnist`); relative to the spec file. Default: none, the files are "
            "searched for in --data-dir, $DNNC_DATA_DIR, the user cache (~/.cache/dnnc/fashion-mnist), "
            "/usr/share/datasets/fashion-mnist (Debian's `dataset-fashion-mnist` package), and downloaded "
            "into the cache (SHA-256 checked) when not found."
        ),
    )


class XorDataset(StrictModel):
    """The four XOR points (0,0)→0, (0,1)→1, (1,0)→1, (1,1)→0.

    Training rows: the four points, `repeat` times, with Gaussian `noise` added
    to the inputs.  Test rows: the four clean points.  There are no validation
    rows unless `validation_split` or `validation` asks for them.  The targets
    are float32 0/1 of shape (n, 1) (what `binary_crossentropy` on one sigmoid
    unit expects); with `labels = "one_hot"` they are float32 of shape (n, 2).
    """

    type: Literal["xor"]
    repeat: PositiveInt = Field(
        1, le=10**9, description="How many copies of the four points form the training rows (default 1)."
    )
    noise: float = Field(
        0.0,
        ge=0,
        description=(
            "Standard deviation of Gaussian noise added to the training inputs (default 0.0: the exact points); "
            "drawn from numpy Generator(Philox) keyed by the training seed."
        ),
    )


class GaussianDataset(StrictModel):
    """Diagnostic rows: features drawn from N(0, 1), labels drawn uniformly from 0 … classes − 1.

    The weight-initialisation experiment's input (1,000 Gaussian samples through
    the network, see docs/inspect.md).  The labels are random, so there is
    nothing to learn: they only give the loss its gradients.  All rows are
    training rows (there are no test rows); `validation_split` or `validation`
    holds some out.  Both are drawn, features first, from numpy
    Generator(Philox) keyed by `seed` in the data stream of this data set
    (independent of the training seed): `standard_normal((rows, *shape),
    float32)`, then `integers(0, classes, rows)`.
    """

    type: Literal["gaussian"]
    rows: PositiveInt = Field(1000, le=10**9, description="Number of rows (default 1000).")
    shape: Annotated[list[PositiveInt], Field(min_length=1)] = Field(
        [100], description="Shape of one row's features (default [100])."
    )
    classes: int = Field(10, ge=2, le=10**9, description="Number of classes of the random labels (default 10).")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the draws (default 0; independent of training.seed).")

    @model_validator(mode="after")
    def _holdable(self) -> "GaussianDataset":
        values = self.rows * math.prod(self.shape)
        if values > 2**61:
            raise ValueError(f"rows × the size of shape is {values:.3g} values; no array can hold more than 2**61 "
                             "float32 values (8 EiB, all a 64-bit machine can address)")
        return self


class CaliforniaHousingDataset(StrictModel):
    """California housing (1990 US census, StatLib): 20,640 block groups, 8 features, 1 target.

    The file is scikit-learn's source archive `cal_housing.tgz` (SHA-256 checked when
    downloaded).  Features, in order, as `sklearn.datasets.fetch_california_housing`
    builds them: MedInc, HouseAge, AveRooms (rooms / households), AveBedrms (bedrooms /
    households), Population, AveOccup (population / households), Latitude, Longitude.
    Target: the median house value in units of $100,000, float32 of shape (n, 1).
    Test rows: the 25 % (ceil, 5,160 rows) that scikit-learn's
    `train_test_split(X, y, random_state=42)` holds out, as the lecture does;
    training rows in that function's order.  Use `standardize = true` as the lecture does.
    """

    type: Literal["california_housing"]
    path: str | None = Field(
        None,
        description=(
            "Directory holding cal_housing.tgz (or the extracted CaliforniaHousing/cal_housing.data), directly or "
            "in a subdirectory `california_housing`; relative to the spec file. Default: none, the file is searched "
            "for in --data-dir, $DNNC_DATA_DIR, the user cache (~/.cache/dnnc/california_housing), "
            "/usr/share/datasets/california_housing, and downloaded into the cache (SHA-256 checked) when not found."
        ),
    )


class ImdbDataset(StrictModel):
    """IMDB movie reviews: 25,000 training and 25,000 test reviews, labels 0 (negative) / 1 (positive).

    The file is Keras's `imdb.npz` (SHA-256 checked when downloaded), read as
    `keras.datasets.imdb.load_data(num_words=num_words)` reads it: the same rows in the
    same order (each part shuffled with RandomState(113)), id 1 starts a review, word
    ranks are offset by 3, every id ≥ num_words becomes 2 (out of vocabulary), 0 is
    padding.  Then each review becomes exactly `maxlen` ids: a longer one keeps its
    last `maxlen` ids, a shorter one is padded with zeros in front (Keras's
    `pad_sequences` defaults).  The features are int64 token ids of shape (maxlen,):
    the model input needs `dtype = "int64"` and `shape = [maxlen]`, and the embedding
    reading it `input_dim ≥ num_words`.
    """

    type: Literal["imdb"]
    num_words: int = Field(10_000, ge=4, le=2**31, description="Vocabulary size: ids 0 … num_words − 1 (default 10000).")
    maxlen: int = Field(200, gt=0, le=10**6, description="Ids per review after truncation / padding (default 200).")
    path: str | None = Field(
        None,
        description=(
            "Directory holding imdb.npz, directly or in a subdirectory `imdb`; relative to the spec file. Default: "
            "none, the file is searched for in --data-dir, $DNNC_DATA_DIR, the user cache (~/.cache/dnnc/imdb), "
            "/usr/share/datasets/imdb, and downloaded into the cache (SHA-256 checked) when not found."
        ),
    )


class NpzDataset(StrictModel):
    """The user's arrays in a numpy `.npz` file.

    Each name in `features`, `targets` and `sample_weight` is an array key.  A
    key `k` that is not in the file but whose `k_train` is, reads `k_train` for
    the training rows and `k_test` (if present) as the separate test rows; a key
    `k_train` given directly pairs with `k_test` the same way.
    """

    type: Literal["npz"]
    path: str = Field(description="The .npz file, relative to the spec file (required).")


class CsvDataset(StrictModel):
    """The user's table in a delimited text file, one row per sample.

    Columns made only of integers are read as int64, other columns as float64;
    empty cells are errors.
    """

    type: Literal["csv"]
    path: str = Field(description="The CSV file, relative to the spec file (required).")
    delimiter: str = Field(",", min_length=1, max_length=1, description='Field separator, one character (default ",").')
    header: bool = Field(
        True,
        description=(
            "Whether the first row holds the column names (default true). Without a header the columns are "
            'named by their zero-based position: "0", "1", …'
        ),
    )


BUILTIN_DATASET_MODELS: list[type[StrictModel]] = [
    MnistDataset,
    FashionMnistDataset,
    XorDataset,
    GaussianDataset,
    CaliforniaHousingDataset,
    ImdbDataset,
    NpzDataset,
    CsvDataset,
]
"""Every data-set table dnnc knows, in documentation order."""

BUILTIN_DATASET_NAMES = ("mnist", "fashion_mnist", "xor", "gaussian", "california_housing", "imdb")
"""Data sets that bring their own arrays (and their own test rows, if any): no user-file keys apply."""

USER_FILE_DATASET_NAMES = ("npz", "csv")

DatasetSpec = Annotated[
    Union[tuple(BUILTIN_DATASET_MODELS)],  # type: ignore[valid-type]
    Field(discriminator="type"),
    BeforeValidator(type_shorthand),
]


# --------------------------------------------------------------------------
# Validation rows
# --------------------------------------------------------------------------


class ValidationSpec(StrictModel):
    """Which training rows are held out for validation: exactly one of `first`, `last`, `random`."""

    first: PositiveInt | None = Field(None, description="Hold out the first N training rows (default: not used).")
    last: PositiveInt | None = Field(None, description="Hold out the last N training rows (default: not used).")
    random: float | None = Field(
        None,
        gt=0,
        lt=1,
        description=(
            "Hold out this fraction of the training rows, chosen at random: n − floor(n·(1 − fraction)) rows, "
            "drawn with numpy Generator(Philox) keyed by `seed`; both parts keep the file's row order "
            "(default: not used)."
        ),
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="Seed of the random choice; only with `random` (default: the training seed).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "ValidationSpec":
        given = [k for k in ("first", "last", "random") if getattr(self, k) is not None]
        if len(given) != 1:
            received = ", ".join(given) if given else "none of them"
            raise ValueError(f"validation needs exactly one of first, last, random (received: {received})")
        if self.seed is not None and self.random is None:
            raise ValueError("validation.seed only applies to validation.random")
        return self


# --------------------------------------------------------------------------
# The [data] table
# --------------------------------------------------------------------------

ColumnList = Annotated[list[str], Field(min_length=1)]
Shape = Annotated[list[PositiveInt], Field(min_length=1)]


class DataSpec(StrictModel):
    """The `[data]` table."""

    dataset: DatasetSpec = Field(
        description=(
            'The data set: "mnist", "fashion_mnist", "xor", "gaussian", "california_housing", or a table with '
            "`type` = mnist | fashion_mnist | xor | gaussian | california_housing | npz | csv (required)."
        )
    )
    divide_by: float | None = Field(
        None,
        gt=0,
        description="Divide every feature by this number, e.g. 255 maps uint8 pixels to [0, 1] (default: no scaling).",
    )
    reshape: Shape | dict[str, Shape] | None = Field(
        None,
        description=(
            "Shape of one sample's features, without the batch dimension, e.g. [784] or [28, 28]; with several "
            "inputs a table input name → shape. The number of values must stay the same (default: the model's "
            "input shape when the sizes agree, else the data's own shape)."
        ),
    )
    as_sequence: bool = Field(
        False,
        description=(
            "Read each MNIST / Fashion-MNIST image as a sequence for a recurrent layer: 28 time steps (the rows, top "
            "to bottom) of 28 features (the row's pixels, left to right); the model's input shape must be [28, 28]. "
            "Only for the image data sets; exclusive with reshape (default false)."
        ),
    )
    labels: Literal["sparse", "one_hot", "binary"] = Field(
        "sparse",
        description=(
            'Form of class labels: "sparse" = int64 class indices of shape (n,), for '
            'sparse_categorical_crossentropy; "one_hot" = float32 rows of shape (n, num_classes), for '
            'categorical_crossentropy; "binary" = float32 0/1 of shape (n, 1), for binary_crossentropy on one '
            'sigmoid unit (labels must be 0 or 1) (default "sparse"; "one_hot" and "binary" are chosen from the '
            "loss when the key is not set). Only class targets are affected."
        ),
    )
    classes: list[Annotated[int, Field(ge=0)]] | dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        None,
        description=(
            "Keep only the rows of these classes and relabel them: a list gives the new labels by position "
            "([5, 6]: class 5 becomes 0, class 6 becomes 1, every other row is dropped); a table old class → new "
            'label may also merge classes ({ "5" = 0, "7" = 0, "6" = 1 }). Applied to the training and test rows '
            "before anything else; the new labels run from 0 (num_classes defaults to the largest + 1). Needs one "
            "class target (default: every row, labels unchanged)."
        ),
    )
    train_rows: PositiveInt | None = Field(
        None,
        description=(
            "Train on the first N training rows only, counted after `classes` and after the validation rows are "
            "taken (default: every training row)."
        ),
    )
    num_classes: int | None = Field(
        None,
        ge=2,
        description=(
            "Number of classes for one-hot labels (default: 10 for mnist and fashion_mnist, 2 for xor, `classes` "
            "for gaussian, "
            "otherwise the largest label + 1 over all rows)."
        ),
    )
    task: Literal["auto", "classification", "regression"] = Field(
        "auto",
        description=(
            'What the targets of user files are (default "auto": integer or boolean arrays and integer-only '
            "CSV columns of one value per row are class labels, everything else regression values). "
            'Class labels become int64; regression values become float32 of shape (n, k), a 1-D target (n, 1).'
        ),
    )
    validation_split: float | None = Field(
        None,
        ge=0,
        lt=1,
        description=(
            "Hold out the LAST n − floor(n·(1 − validation_split)) training rows for validation, before any "
            "shuffling, as Keras does (default: no validation rows). Exclusive with `validation`."
        ),
    )
    validation: ValidationSpec | None = Field(
        None,
        description=(
            "Which training rows to hold out for validation: { first = N }, { last = N } or { random = fraction } "
            "(default: no validation rows). Exclusive with `validation_split`."
        ),
    )
    test_split: float | None = Field(
        None,
        ge=0,
        lt=1,
        description=(
            "For npz/csv files without separate test arrays: hold out the LAST n − floor(n·(1 − test_split)) "
            "rows as test rows, before the validation rows are taken (default: no test rows)."
        ),
    )
    standardize: bool = Field(
        False,
        description=(
            "Subtract the per-feature mean and divide by the per-feature standard deviation, both fitted on the "
            "training rows only (after divide_by) and applied to every split; a standard deviation of 0 counts "
            "as 1 (default false)."
        ),
    )
    features: str | ColumnList | dict[str, str | ColumnList] | None = Field(
        None,
        description=(
            "User files only. npz: the array key of the single input, or a table model-input name → array key. "
            "csv: a column name or a list of column names for the single input, or a table model-input name → "
            "column or list of columns. Default: npz key \"x\"; csv every column that is not a target or the "
            "sample weight."
        ),
    )
    targets: str | ColumnList | dict[str, str | ColumnList] | None = Field(
        None,
        description=(
            "User files only. The array key (npz) or column(s) (csv) of the single output, or a table model-output "
            'name → key or column(s). Default: npz key "y"; csv requires it.'
        ),
    )
    sample_weight: str | None = Field(
        None,
        description="User files only: the array key or column holding one weight per row (default: all rows weigh 1).",
    )

    @model_validator(mode="after")
    def _check_combinations(self) -> "DataSpec":
        if self.validation is not None and self.validation_split is not None:
            raise ValueError(
                "validation and validation_split are exclusive: give one of them "
                f"(received validation_split = {self.validation_split} and validation = "
                f"{self.validation.model_dump(exclude_none=True)})"
            )
        if self.classes is not None:
            mapping = class_mapping(self.classes)  # raises ValueError for bad keys or duplicates
            if sorted(set(mapping.values())) != list(range(max(mapping.values()) + 1)):
                raise ValueError(f"classes: the new labels must be 0, 1, 2… without gaps (received {self.classes})")
        kind = self.dataset.type
        if self.as_sequence:
            if kind not in ("mnist", "fashion_mnist"):
                raise ValueError(f"as_sequence applies to the image data sets mnist and fashion_mnist (received "
                                 f"dataset {kind!r})")
            if self.reshape is not None:
                raise ValueError(f"as_sequence and reshape are exclusive: as_sequence already gives samples of shape "
                                 f"[28, 28] (received reshape = {self.reshape})")
        if kind in BUILTIN_DATASET_NAMES:
            if self.test_split is not None:
                raise ValueError(
                    f"test_split only applies to npz/csv files: {kind!r} has its own test rows "
                    f"(received test_split = {self.test_split})"
                )
            for key in ("features", "targets", "sample_weight"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} only applies to npz/csv files, not to the built-in data set {kind!r}")
            if self.task != "auto":
                raise ValueError(f"task only applies to npz/csv files, not to the built-in data set {kind!r}")
        if kind == "npz":
            for key in ("features", "targets"):
                value = getattr(self, key)
                values = value.values() if isinstance(value, dict) else [value]
                if any(isinstance(v, list) for v in values):
                    raise ValueError(
                        f"{key}: lists of columns are for csv files; for npz give one array key per "
                        f"model input/output (received {value!r})"
                    )
        if kind == "csv" and self.targets is None:
            raise ValueError('csv data needs `targets`: the column(s) to predict, e.g. targets = "price"')
        return self


def class_mapping(classes: list[int] | dict[str, int]) -> dict[int, int]:
    """``data.classes`` as old class → new label (ValueError for a duplicate class or a key that is no class)."""
    if isinstance(classes, list):
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes: a class is listed twice (received {classes})")
        return {c: i for i, c in enumerate(classes)}
    out: dict[int, int] = {}
    for key, label in classes.items():
        try:
            old = int(key)
        except ValueError:
            raise ValueError(f"classes: keys are class numbers such as \"5\" (received {key!r})") from None
        if old < 0 or str(old) != key.strip():
            raise ValueError(f"classes: keys are class numbers such as \"5\" (received {key!r})")
        out[old] = label
    return out
