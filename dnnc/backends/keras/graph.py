"""The Keras layers of an IR, the functional ``keras.Model`` over them, and a direct executor.

:class:`KerasGraph` converts every node once (:mod:`.converters`), wires the layers
into a functional model (what is trained, summarised and saved) and binds each
canonical parameter ``"<node>/<param>"`` to its Keras variable.  Its
:meth:`~KerasGraph.run` walks the same layer objects directly; it exists for
the dropout-mask path, where dropout nodes compute ``x·mask/(1 − rate)``
instead of drawing, so the saved model keeps its stock ``Dropout`` layers.

Model inputs and outputs: one input (output) is a plain tensor; several are a
dict keyed by the IR input (output) names.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ...compiler.ir import ModelIR
from ...compiler.ops import dropout_nodes
from ..base import BackendError
from .converters import CONVERTERS, PARAM_BINDINGS, BuildContext, NodeLayers, set_layer_trainable


def _model_name(name: str) -> str:
    return name.replace("/", "_") or "model"


class KerasGraph:
    """Layers, functional model and parameter variables for one IR."""

    def __init__(self, ir: ModelIR, keras: Any, seed: int) -> None:
        self.ir = ir
        ctx = BuildContext(keras, seed, used_names={n.name for n in ir.nodes})
        self.nodes: dict[str, NodeLayers] = {}
        symbolic: dict[str, Any] = {}
        for node in ir.nodes:
            try:
                convert = CONVERTERS[node.op]
            except KeyError:
                raise BackendError(f"the keras backend has no converter for op {node.op!r} (layer {node.name!r})") from None
            layers = convert(node, ctx)
            set_layer_trainable(node, layers)
            self.nodes[node.name] = layers
            if node.op == "input":
                symbolic[node.name] = keras.Input(shape=tuple(node.shape), name=node.name, dtype=node.attrs.dtype)
            else:
                symbolic[node.name] = layers.call([symbolic[i] for i in node.inputs], None)
        self.input_names: tuple[str, ...] = tuple(ir.inputs)
        self.output_names: tuple[str, ...] = tuple(o.name for o in ir.outputs)
        self.model = keras.Model(
            inputs=self._pack(self.input_names, symbolic),
            outputs=self._pack(self.output_names, symbolic),
            name=_model_name(ir.name),
        )
        self._dropout_rates = {name: rate for name, (_, rate) in dropout_nodes(ir).items()}
        #: recurrent node → its dropout sites as (Keras cell, "dropout" | "recurrent_dropout", mask key, rate)
        self._recurrent_sites = recurrent_cell_sites(ir, self.nodes)
        #: canonical key → Keras variable, in IR order.
        self.variables: dict[str, Any] = bind_variables(self.model, ir)

    @staticmethod
    def _pack(names: Sequence[str], values: Mapping[str, Any]):
        if len(names) == 1:
            return values[names[0]]
        return {name: values[name] for name in names}

    @property
    def dropout_nodes(self) -> frozenset[str]:
        return frozenset(self._dropout_rates)

    def seed_generators(self) -> dict[str, Any]:
        """Dropout node → the ``keras.random.SeedGenerator`` its layer draws the masks from."""
        generators = {name: self.nodes[name].main.seed_generator for name in self._dropout_rates}
        for name, sites in self._recurrent_sites.items():  # the cells that draw recurrent dropout masks
            for cell, _, key, _ in sites:
                generators.setdefault(key.rpartition("/")[0] + "/" + cell.name, cell.seed_generator)
        return generators

    def set_trainable(self, ir: ModelIR) -> None:
        """Set every layer's ``trainable`` from `ir` (the same graph, other trainable flags)."""
        self.ir = ir
        for node in ir.nodes:
            set_layer_trainable(node, self.nodes[node.name])

    # -- running (inside tf.function) -----------------------------------------
    def call_model(self, inputs: Mapping[str, Any], training: bool) -> list[Any]:
        """The functional model on a dict of input tensors; outputs as a list in IR order."""
        out = self.model(self._pack(self.input_names, inputs), training=training)
        if len(self.output_names) == 1:
            return [out]
        return [out[name] for name in self.output_names]

    def run(self, inputs: Mapping[str, Any], training: bool, masks: Mapping[str, Any] | None = None) -> list[Any]:
        """Walk the layers directly; in training mode dropout nodes listed in `masks` use y = x·mask/(1 − rate)."""
        import tensorflow as tf

        values = dict(inputs)
        for node in self.ir.nodes:
            if node.op == "input":
                continue
            xs = [values[i] for i in node.inputs]
            if training and masks is not None and node.name in masks:
                x = xs[0]
                keep = tf.cast(masks[node.name], x.dtype)  # (batch, 1, 1, C) for spatial dropout: broadcast
                values[node.name] = x * keep / tf.constant(1.0 - self._dropout_rates[node.name], x.dtype)
            elif training and masks is not None and node.name in self._recurrent_sites:
                inject_cell_masks(self._recurrent_sites[node.name], masks)
                values[node.name] = self.nodes[node.name].call(xs, training)
            else:
                values[node.name] = self.nodes[node.name].call(xs, training)
        return [values[name] for name in self.output_names]

    # -- introspection ---------------------------------------------------------
    def layer_param_counts(self) -> dict[str, tuple[int, int]]:
        """Per IR node: (trainable, non-trainable) sizes of its Keras layers' own weights."""
        counts = {}
        for name, node_layers in self.nodes.items():
            trainable = sum(_size(w) for layer in node_layers.layers for w in layer.trainable_weights)
            frozen = sum(_size(w) for layer in node_layers.layers for w in layer.non_trainable_weights)
            counts[name] = (trainable, frozen)
        return counts


def recurrent_cell_sites(ir: ModelIR, nodes: Mapping[str, NodeLayers]) -> dict[str, list[tuple[Any, str, str, float]]]:
    """Recurrent node → (cell, kind, mask key, rate) of each of its dropout sites (dnnc.compiler.dropout_sites)."""
    from ...compiler.recurrent_ops import recurrent_mask_sites

    out: dict[str, list[tuple[Any, str, str, float]]] = {}
    for node in ir.nodes:
        if not node.inputs:
            continue
        sites = recurrent_mask_sites(node, int(ir.node(node.inputs[0]).shape[-1]))
        if not sites:
            continue
        layer = nodes[node.name].main
        entries = []
        for key, _, rate in sites:
            kind = key.rpartition("/")[2]
            if node.op == "bidirectional":
                direction, _, kind = kind.partition("_")
                cell = getattr(layer, f"{direction}_layer").cell
            else:
                cell = layer.cell
            entries.append((cell, kind, key, rate))
        out[node.name] = entries
    return out


def inject_cell_masks(sites: list[tuple[Any, str, str, float]], masks: Mapping[str, Any]) -> None:
    """Give each cell dnnc's masks for its next call, scaled as Keras's own (keep/(1 − rate)): the layer's call
    takes a cached mask instead of drawing one (``DropoutRNNCell.get_dropout_mask``) and clears it afterwards.
    A cell computing gate by gate (``dropout_mask_count``, Keras's implementation 1) takes one mask per gate."""
    import tensorflow as tf

    for cell, kind, key, rate in sites:
        keep = tf.cast(masks[key], "float32") * tf.constant(1.0 / (1.0 - rate), "float32")
        per_gate = getattr(cell, "dropout_mask_count", None) is not None
        value = [keep[:, g, :] for g in range(keep.shape[1])] if per_gate else keep[:, 0, :]
        setattr(cell, "_dropout_mask" if kind == "dropout" else "_recurrent_dropout_mask", value)


def _size(variable: Any) -> int:
    n = 1
    for d in variable.shape:
        n *= int(d)
    return n


def bind_variables(model: Any, ir: ModelIR) -> dict[str, Any]:
    """canonical key → the Keras variable holding it: the attribute (dotted path) :data:`.converters.PARAM_BINDINGS`
    names on the layer named like the node.  Works on a freshly built model and on one loaded from a
    ``.keras`` file."""
    out = {}
    for key, node, param in ir.weight_specs():
        attribute = PARAM_BINDINGS.get(node.op, {}).get(param.name)
        if attribute is None:
            raise BackendError(f"the keras backend does not know parameter {param.name!r} of op {node.op!r} "
                               f"(node {node.name!r})")
        try:
            layer = model.get_layer(node.name)
        except ValueError:
            raise BackendError(f"the Keras model has no layer named {node.name!r} (needed for {key!r})") from None
        variable = layer
        for part in attribute.split("."):
            variable = getattr(variable, part, None)
        if variable is None or tuple(variable.shape) != tuple(param.shape):
            got = None if variable is None else tuple(variable.shape)
            raise BackendError(f"Keras layer {node.name!r} has no variable {param.name!r} of shape "
                               f"{tuple(param.shape)} (found {got})")
        out[key] = variable
    return out
