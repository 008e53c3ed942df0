"""Plugin API: the `hookimpl` marker, vocabulary types and what a layer type needs to define an op.

A layer type lowers to an IR node (:class:`NodeDraft`, :class:`ParamDraft`) of a built-in op or of an op it
defines (:class:`OpDef` with an :class:`OpAttrs` model, a shape rule and :class:`ParamSpec` parameters); a
semantic error in a layer raises :class:`LoweringError`.  See docs/plugins.md.
"""

from ..compiler.lower_layers import NodeDraft, ParamDraft
from ..compiler.ops import LoweringError, OpAttrs, OpDef, ParamSpec
from .markers import hookimpl
from .vocabulary import CallbackType, DatasetType, LayerType

__all__ = ["hookimpl", "LayerType", "DatasetType", "CallbackType", "NodeDraft", "ParamDraft", "OpDef", "OpAttrs",
           "ParamSpec", "LoweringError"]
