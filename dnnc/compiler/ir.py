"""The backend-neutral intermediate representation (IR).

The compiler turns a validated spec into one :class:`ModelIR`; it is the only
thing backends consume.  It is frozen, framework-free and serialises to JSON
and back (:meth:`ModelIR.to_json`, :meth:`ModelIR.from_json`).

The contract has three parts:

* this module: the containers (:class:`ModelIR`, :class:`NodeIR`,
  :class:`ParamIR`, :class:`OutputIR`, :class:`TrainingIR`) and the
  conventions below;
* :mod:`dnnc.compiler.ops`: the closed op set — for each op its typed
  attribute model (every field required), arity, shape rule and parameters
  (names, shapes, canonical layout); rendered as ``docs/ir-ops.md``;
* :mod:`dnnc.compiler.verify`: the invariants, checked at the end of lowering
  and by :meth:`ModelIR.from_json` (run directories, artifact sidecars).

Typed values inside nodes (activations, initializers, regularizers) are in
:mod:`dnnc.compiler.ir_types`.

Conventions every backend follows
---------------------------------
* **Graph.**  ``nodes`` are in topological order.  Model inputs are nodes with
  ``op == "input"``; every other node names its producers in ``inputs``.
* **Shapes** exclude the batch axis; data is channels-last and row-major.
* **Every default is explicit.**  Attributes, initializers, regularizers,
  activation parameters, optimizer hyperparameters and data preprocessing are
  all written out; a backend never relies on its framework's defaults.
* **Parameters and layout.**  Each node lists its parameters (:class:`ParamIR`)
  by canonical name, in the order and with the shapes its op defines
  (:mod:`dnnc.compiler.ops`); the canonical weight key is ``"<node>/<param>"``.
  Layouts are Keras's (a dense kernel is ``(in, units)``, used as
  ``y = x @ kernel + bias``); a backend with another layout converts in one
  documented place.  Batch-norm moving statistics are parameters that are not
  trained (counted as non-trainable, as Keras does).
* **Frozen nodes.**  A node with ``trainable = False`` (a layer with
  ``trainable = false`` in the spec) has every parameter ``trainable = False``:
  no gradient, no optimizer slot, counted as non-trainable.  Ops whose
  behaviour depends on it say so in an attribute (batch norm:
  ``inference_mode``, Keras 3's rule that a frozen batch norm normalises with
  its moving statistics); :mod:`dnnc.compiler.freezing` changes the flag.
* **Logits out.**  A model emits logits: when an output's loss is a
  cross-entropy, the final softmax/sigmoid is removed from the graph and
  recorded as the output's ``head``; dnnc applies the head for prediction and
  metrics and computes the loss from logits.  ``head == "linear"`` means the
  output is used as it is.
* **Initial weights** are drawn by dnnc (:mod:`dnnc.compiler.initial_weights`)
  from the seed, not by a framework.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, ValidationInfo, field_validator

from .ir_types import InitializerIR, RegularizerIR
from .ops import OpAttrs, OpDef, default_op_table
from .verify import IRError, IRIssue, verify

IR_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamIR(_Frozen):
    """One parameter array of a node."""

    name: str
    shape: tuple[int, ...]
    trainable: bool
    init: InitializerIR = Field(description="Initializer with every parameter explicit, e.g. {'type': 'glorot_uniform'}.")
    regularizer: Optional[RegularizerIR] = Field(None, description="The l1·Σ|w| + l2·Σw² penalty, or None.")

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class NodeIR(_Frozen):
    """One operation of the graph."""

    name: str
    op: str = Field(description="The op (dnnc.compiler.ops): what a backend must implement.")
    inputs: tuple[str, ...] = ()
    attrs: SerializeAsAny[OpAttrs] = Field(default_factory=dict, validate_default=True,
                                           description="The op's attribute model, every attribute explicit.")
    params: tuple[ParamIR, ...] = ()
    shape: tuple[int, ...] = Field(description="Output shape without the batch axis.")
    trainable: bool = Field(True, description="False for a frozen node: none of its parameters is trained.")
    spec_path: tuple[str | int, ...] = Field((), description="Where the node comes from in the spec (for error messages).")

    @field_validator("attrs", mode="before")
    @classmethod
    def _typed_attrs(cls, value: Any, info: ValidationInfo) -> Any:
        """A dict of attributes becomes the op's attribute model, looked up in the op table (the validation
        context's ``"ops"``, else the built-in and installed plugin ops).  An attribute model instance is kept
        as it is: :func:`~dnnc.compiler.verify.verify` checks that it is the op's."""
        if isinstance(value, OpAttrs):
            return value
        if "op" not in info.data:  # the op field itself is invalid: reported there
            return OpAttrs.model_construct()
        table = (info.context or {}).get("ops") or default_op_table()
        op = table.get(info.data["op"])
        if op is None:
            raise ValueError(f"unknown op {info.data['op']!r} (known: {', '.join(sorted(table))})")
        try:
            return op.attrs.model_validate(value or {})
        except ValidationError as exc:
            raise ValueError(_attr_errors(exc)) from None

    @property
    def trainable_count(self) -> int:
        return sum(p.size for p in self.params if p.trainable)

    @property
    def non_trainable_count(self) -> int:
        return sum(p.size for p in self.params if not p.trainable)

    def param(self, name: str) -> ParamIR:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"node {self.name!r} has no parameter {name!r}")


def _attr_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "attributes"
        parts.append(f"{where}: {err['msg'].lower()} (received {err['input']!r})" if err["type"] != "missing"
                     else f"{where}: missing")
    return "; ".join(parts)


class OutputIR(_Frozen):
    """One model output with what training needs to know about it."""

    name: str = Field(description="The output's name: the node it reads.")
    shape: tuple[int, ...]
    head: Literal["linear", "softmax", "sigmoid"] = "linear"
    loss: Optional[dict[str, Any]] = None
    loss_weight: float = 1.0
    metrics: tuple[dict[str, Any], ...] = ()
    target: Literal["sparse", "one_hot", "binary", "regression"] = "regression"


class CheckpointIR(_Frozen):
    """When the runner writes the resumable checkpoint (``training.checkpoint`` of the spec, resolved)."""

    every_epochs: int = Field(..., ge=0)
    every_steps: int = Field(..., ge=0)
    min_seconds: float = Field(..., ge=0)

    @property
    def enabled(self) -> bool:
        return bool(self.every_epochs or self.every_steps)


class TrainingIR(_Frozen):
    """Training settings with every default explicit."""

    optimizer: dict[str, Any]
    batch_size: int
    validation_batch_size: int
    epochs: int
    seed: int
    callbacks: tuple[dict[str, Any], ...] = ()
    class_weight: Optional[dict[str, float]] = None
    strict_parity: bool = False
    device: str = Field("auto", description="The requested device (auto, cpu, cuda, cuda:N, mps); the backend "
                                            "resolves it when it builds the model (dnnc.backends.devices).")
    steps_per_execution: int = Field(1, ge=1, description="Training steps per backend call (the results do not "
                                                          "depend on it: dnnc.backends.resident).")
    compile: bool = Field(False, description="Compile the training step with the backend's compiler (torch.compile, "
                                             "XLA); the results agree within the conformance tolerances.")
    checkpoint: Optional[CheckpointIR] = Field(None, description="Resumable checkpoints (None: none are written).")


class InitFromIR(_Frozen):
    """Where the initial weights of some layers come from (``model.init_from``): copied by the runner
    (:mod:`dnnc.runner.transfer`) over the weights drawn from the seed."""

    source: str = Field(description="The run directory, weights file or model file, as written in the spec "
                                    "(relative to the spec file).")
    layers: Optional[dict[str, str]] = Field(description="This model's layer → the source's layer, or None: every "
                                                         "layer whose name and parameter shapes match.")


class ModelIR(_Frozen):
    """The compiled, backend-neutral model."""

    ir_version: int = IR_VERSION
    name: str
    spec_version: int = 1
    inputs: tuple[str, ...]
    nodes: tuple[NodeIR, ...]
    outputs: tuple[OutputIR, ...]
    training: Optional[TrainingIR] = None
    data: Optional[dict[str, Any]] = None
    conformance: dict[str, Any] = Field(default_factory=dict)
    init_from: Optional[InitFromIR] = None

    # -- lookups -----------------------------------------------------------
    def node(self, name: str) -> NodeIR:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}")

    @property
    def ops(self) -> frozenset[str]:
        return frozenset(n.op for n in self.nodes)

    @property
    def trainable_count(self) -> int:
        return sum(n.trainable_count for n in self.nodes)

    @property
    def non_trainable_count(self) -> int:
        return sum(n.non_trainable_count for n in self.nodes)

    @property
    def param_count(self) -> int:
        return self.trainable_count + self.non_trainable_count

    def weight_specs(self) -> list[tuple[str, NodeIR, ParamIR]]:
        """Every parameter as (canonical key ``node/param``, node, param), in graph order."""
        return [(f"{n.name}/{p.name}", n, p) for n in self.nodes for p in n.params]

    # -- serialisation -----------------------------------------------------
    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str, *, ops: Mapping[str, OpDef] | None = None, source: str | None = None) -> "ModelIR":
        """Parse and :func:`~dnnc.compiler.verify.verify` an IR; raise IRError naming the node and field at fault.

        `ops` is the op table (default: the built-in ops and the installed plugins' ops); `source` names the
        file in error messages.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IRError([IRIssue(None, "json", f"not valid JSON ({exc})")], source) from None
        if not isinstance(data, dict):
            raise IRError([IRIssue(None, "json", f"expected a JSON object, found {type(data).__name__}")], source)
        version = data.get("ir_version")
        if version != IR_VERSION:
            raise IRError([IRIssue(None, "ir_version", f"unsupported IR version {version!r} "
                                                       f"(this dnnc reads IR version {IR_VERSION})")], source)
        table = default_op_table() if ops is None else ops
        try:
            ir = cls.model_validate(data, context={"ops": table})
        except ValidationError as exc:
            raise IRError(_validation_issues(exc, data), source) from None
        try:
            verify(ir, table)
        except IRError as exc:
            raise exc.with_source(source) if source else exc from None
        return ir


def _validation_issues(exc: ValidationError, data: dict) -> list[IRIssue]:
    """Pydantic's errors as IR issues: ``nodes[3].attrs.units`` becomes node 'dense_1', field 'attrs.units'."""
    nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else []
    issues = []
    for err in exc.errors():
        loc = list(err["loc"])
        node = None
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int) and loc[1] < len(nodes):
            raw = nodes[loc[1]]
            node = raw.get("name", f"#{loc[1]}") if isinstance(raw, dict) else f"#{loc[1]}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "value"
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if field == "attrs" and message.startswith("unknown op"):
            field = "op"
        issues.append(IRIssue(node, field, message if err["type"] != "missing" else "missing"))
    return issues
