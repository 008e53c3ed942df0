"""The spec reference page (docs/spec-reference.md), generated from the Pydantic models.

`dnnc schema --markdown` prints it; a test checks the committed page equals the output,
so the documentation cannot drift from the code.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .activations import ACTIVATION_MODELS
from .callbacks import BUILTIN_CALLBACK_MODELS
from .initializers import INITIALIZER_MODELS
from .losses import BUILTIN_LOSS_MODELS
from .metrics import METRIC_MODELS
from .model import BatchNormDefaults, InputSpec, ModelDefaults, ModelSectionBase
from .optimizers import BUILTIN_OPTIMIZER_MODELS
from .regularizers import REGULARIZER_MODELS
from .repeat import RepeatBlockBase
from .schedules import BUILTIN_SCHEDULE_MODELS
from .search import SEARCH_PARAM_MODELS, SearchSection
from .training import ConformanceSection, TrainingSectionBase

_CONSTRAINTS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "min length", "max_length": "max length"}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " or ".join(repr(a).replace("'", '"') for a in args)
    if origin is typing.Union or origin is types.UnionType:
        names = [_type_name(a) for a in args if a is not type(None)]
        if len(names) > 4:
            return "table"
        return " or ".join(dict.fromkeys(names))
    if origin in (list, tuple):
        return f"array of {_type_name(args[0])}" if args else "array"
    if origin is dict:
        return f"table of {_type_name(args[1])}" if args else "table"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _constraints(field) -> str:
    out = []
    for meta in field.metadata:
        for attr, symbol in _CONSTRAINTS.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{symbol} {value}")
    return ", ".join(out)


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "{}" if "Defaults" in str(field.annotation) or "Section" in str(field.annotation) else "[]"
    if field.default is PydanticUndefined or field.default is None:
        return "—"
    value = field.default
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def model_table(model: type[BaseModel], skip: tuple[str, ...] = ("type",)) -> list[str]:
    rows = [(name, f) for name, f in model.model_fields.items() if name not in skip]
    if not rows:
        return ["No parameters."]
    lines = ["| key | type | default | constraints | meaning |", "|---|---|---|---|---|"]
    for name, f in rows:
        desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type_name(f.annotation)} | {_default(f)} | {_constraints(f)} | {desc} |")
    return lines


def _tag(model: type[BaseModel]) -> str:
    return typing.get_args(model.model_fields["type"].annotation)[0]


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _family(title: str, intro: str, models, skip=("type",)) -> list[str]:
    lines = [f"## {title}", "", intro, ""]
    for model in models:
        lines += [f"### `{_tag(model)}`", "", _doc(model), "", *model_table(model, skip), ""]
    return lines


def _section(title: str, model: type[BaseModel], intro: str, skip=()) -> list[str]:
    return [f"## {title}", "", intro, "", *model_table(model, skip), ""]


def _repeat_section() -> list[str]:
    lines = ["### `repeat` (a block of layers)", "", _doc(RepeatBlockBase), "", *model_table(RepeatBlockBase)]
    lines.append("| `layers` | array of table | required | min length 1 | The layers to repeat, in order "
                 "(layers or nested repeat blocks). |")
    return lines + [""]


def reference_markdown(layer_models, dataset_models, callback_models) -> str:
    """The whole reference page for the given vocabulary."""
    from .data import DataSpec, ValidationSpec
    from .spec import SpecBase

    lines = [
        "# Spec reference",
        "",
        "Generated from dnnc's Pydantic models by `dnnc schema --markdown` (a test keeps this page in sync with",
        "the code). Every `type`-discriminated table also accepts the bare type name as shorthand:",
        '`optimizer = "adam"` equals `optimizer = { type = "adam" }`. Unknown keys are errors. Numbers are',
        "numbers: a boolean or a string is never read as a number, a fractional number never as an integer,",
        "NaN and infinities are refused everywhere, and an initializer's numbers must fit in float32",
        "(|x| ≤ 3.4028235e+38), as must a learning rate. See [errors.md](errors.md) for everything dnnc refuses.",
        "",
        *_section("Top level", SpecBase, "Besides `data`, `model` and `training` (below):"),
        *_section("`[data]`", DataSpec, "Where the data comes from and how it is prepared.", skip=("dataset",)),
        *_section("`data.validation`", ValidationSpec, "Exactly one of `first`, `last`, `random`."),
        *_family("Datasets (`data.dataset`)", "", dataset_models),
        *_section("`[model]`", ModelSectionBase, "Plus `layers`, an array of layer tables (below)."),
        *_section("`model.inputs[]`", InputSpec, ""),
        *_section("`model.defaults`", ModelDefaults, ""),
        *_section("`model.defaults.batch_norm`", BatchNormDefaults, ""),
        *_family("Layers (`model.layers[]`)", "Every layer also takes `name` and `inputs`.", layer_models,
                 skip=("type", "name", "inputs")),
        *_repeat_section(),
        *_family("Activations (`activation = …`)", "", ACTIVATION_MODELS),
        *_family("Initializers (`kernel_init`, `bias_init`)", "", INITIALIZER_MODELS),
        *_family("Regularizers (`kernel_regularizer`, `bias_regularizer`)", "", REGULARIZER_MODELS),
        *_section("`[training]`", TrainingSectionBase, "Plus `callbacks`, an array of callback tables (below)."),
        *_family("Losses (`training.loss`)", "One loss, or a table output name → loss.", BUILTIN_LOSS_MODELS),
        *_family("Metrics (`training.metrics`)", "An array, or a table output name → array.", METRIC_MODELS),
        *_family("Optimizers (`training.optimizer`)", "Update rules: see optimizers.md.", BUILTIN_OPTIMIZER_MODELS),
        *_family("Learning-rate schedules (`learning_rate = { type = … }`)", "Counted in optimizer steps.",
                 BUILTIN_SCHEDULE_MODELS),
        *_family("Callbacks (`[[training.callbacks]]`)", "", callback_models),
        *_section("`[conformance]`", ConformanceSection, "Settings of `dnnc conform`."),
        *_section("`[search]`", SearchSection, "The search `dnnc tune` runs (see tuning.md); `train` ignores it.",
                  skip=("space",)),
        *_family("Search parameters (`[search.space]`)",
                 "Each key is a path in the syntax of `--set` (`\"model.layers[0].units\"`), each value one of:",
                 SEARCH_PARAM_MODELS),
    ]
    return "\n".join(lines).rstrip() + "\n"
