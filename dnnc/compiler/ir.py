"""The backend-neutral intermediate representation (IR).

The compiler turns a validated spec into one :class:`ModelIR`; it is the only
thing backends consume.  It is frozen, framework-free and serialises to JSON
and back (:meth:`ModelIR.to_json`, :meth:`ModelIR.from_json`).

Conventions every backend follows
---------------------------------
* **Graph.**  ``nodes`` are in topological order.  Model inputs are nodes with
  ``op == "input"``; every other node names its producers in ``inputs``.
* **Shapes** exclude the batch axis; data is channels-last and row-major.
* **Every default is explicit.**  Attributes, initializers, regularizers,
  activation parameters, optimizer hyperparameters and data preprocessing are
  all written out; a backend never relies on its framework's defaults.
* **Parameters and layout.**  Each node lists its parameters (:class:`ParamIR`)
  by canonical name; the canonical weight key is ``"<node>/<param>"``.  Layouts:

  ====================  ===========================================  =================
  op                    parameters (shape)                           trainable
  ====================  ===========================================  =================
  dense                 kernel (in, units), bias (units,)            yes
  maxout                kernel (in, units·pieces), bias (units·pieces,)  yes
  batch_norm            gamma (C,), beta (C,)                        yes
                        moving_mean (C,), moving_variance (C,)       no (counted as Keras does)
  ====================  ===========================================  =================

  A dense kernel is used as ``y = x @ kernel + bias`` (the Keras layout; torch
  stores its transpose).  Maxout's output ``j`` is the max of the linear
  outputs ``j·pieces … j·pieces + pieces − 1``.
* **Batch norm** (axis −1): training normalises with the batch mean and the
  *biased* batch variance; ``moving = momentum·moving + (1 − momentum)·batch``
  with the biased variance; inference uses the moving statistics.
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
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

IR_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamIR(_Frozen):
    """One parameter array of a node."""

    name: str
    shape: tuple[int, ...]
    trainable: bool
    init: dict[str, Any] = Field(description="Initializer with every parameter explicit, e.g. {'type': 'glorot_uniform'}.")
    regularizer: Optional[dict[str, float]] = Field(None, description="{'l1': …, 'l2': …} penalty, or None.")

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class NodeIR(_Frozen):
    """One operation of the graph."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: dict[str, Any] = Field(default_factory=dict)
    params: tuple[ParamIR, ...] = ()
    shape: tuple[int, ...] = Field(description="Output shape without the batch axis.")
    spec_path: tuple[str | int, ...] = Field((), description="Where the node comes from in the spec (for error messages).")

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


class OutputIR(_Frozen):
    """One model output with what training needs to know about it."""

    name: str = Field(description="The output's name: the node it reads.")
    shape: tuple[int, ...]
    head: Literal["linear", "softmax", "sigmoid"] = "linear"
    loss: Optional[dict[str, Any]] = None
    loss_weight: float = 1.0
    metrics: tuple[dict[str, Any], ...] = ()
    target: Literal["sparse", "one_hot", "binary", "regression"] = "regression"


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
    def from_json(cls, text: str) -> "ModelIR":
        data = json.loads(text)
        version = data.get("ir_version")
        if version != IR_VERSION:
            raise ValueError(f"unsupported IR version {version!r} (this dnnc reads IR version {IR_VERSION})")
        return cls.model_validate(data)
