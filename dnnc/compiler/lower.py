"""Lowering a validated spec to the IR: names, DAG, shapes, parameters, heads, training.

Every semantic error (unknown input, duplicate name, cycle, incompatible
shapes, a loss that does not fit its output…) becomes a :class:`SpecIssue` at
the path of the offending key; all of them are raised together.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from ..plugins.manager import Registry
from .errors import Loc, SpecError, SpecIssue, format_path
from .expand import expand_layers
from pydantic import ValidationError

from .ir import CheckpointIR, InitFromIR, ModelIR, NodeIR, OutputIR, ParamIR, TrainingIR, _attr_errors
from .ir_types import LINEAR
from .freezing import set_trainable
from .embedding_ops import dtype_problem
from .ops import LoweringError
from .verify import CROSS_ENTROPY_HEADS, verify
from .suggest import did_you_mean, format_choices

_CE_HEAD = {loss: head for loss, (head, _) in CROSS_ENTROPY_HEADS.items()}
_TARGET_KIND = {loss: target for loss, (_, target) in CROSS_ENTROPY_HEADS.items()}


class _Collector:
    def __init__(self) -> None:
        self.issues: list[SpecIssue] = []

    def add(self, path, message, **kw) -> None:
        issue = SpecIssue(tuple(path), message, **kw)
        if issue not in self.issues:  # the copies of a repeated layer report one problem once
            self.issues.append(issue)


def _layer_names(layers: list[Any], paths: list[Loc], input_names: list[str], out: _Collector) -> list[str]:
    """Explicit names, else `<type>`, `<type>_1`, … (Keras style), never colliding."""
    taken = Counter(l.name for l in layers if l.name)
    for i, layer in enumerate(layers):
        if layer.name and taken[layer.name] > 1:
            first = next(j for j, l in enumerate(layers) if l.name == layer.name)
            if first != i:
                out.add(paths[i] + ("name",), f"duplicate layer name {layer.name!r} (also used by {format_path(paths[first])})",
                        received=layer.name)
        if layer.name in input_names:
            out.add(paths[i] + ("name",), f"layer name {layer.name!r} is already the name of a model input",
                    received=layer.name)
    used = set(taken) | set(input_names)
    counts: Counter[str] = Counter()
    names = []
    for layer in layers:
        if layer.name:
            names.append(layer.name)
            continue
        while True:
            n = counts[layer.type]
            candidate = layer.type if n == 0 else f"{layer.type}_{n}"
            counts[layer.type] += 1
            if candidate not in used:
                break
        used.add(candidate)
        names.append(candidate)
    return names


def _toposort(names: list[str], edges: dict[str, list[str]], input_names: list[str]) -> tuple[list[str], list[str]]:
    """Stable topological order (declaration order among ready layers); returns (order, nodes in cycles)."""
    pending = {n: [p for p in edges[n] if p not in input_names] for n in names}
    order: list[str] = []
    done: set[str] = set()
    progress = True
    while progress:
        progress = False
        for n in names:
            if n not in done and all(p in done for p in pending[n]):
                order.append(n)
                done.add(n)
                progress = True
                break
    return order, [n for n in names if n not in done]


def _find_cycle(start: str, edges: dict[str, list[str]], remaining: set[str]) -> list[str]:
    path = [start]
    seen = {start}
    node = start
    while True:
        nxt = next(p for p in edges[node] if p in remaining)
        if nxt in seen:
            return path[path.index(nxt):] + [nxt]
        path.append(nxt)
        seen.add(nxt)
        node = nxt


def lower_model(spec: Any, registry: Registry, out: _Collector) -> tuple[list[str], list[NodeIR], list[str]] | None:
    model = spec.model
    expanded = expand_layers(model.layers)
    if not expanded:
        out.add(("model", "layers"), "the model has no layers: every repeat block has times = 0",
                hint="add a layer after the repeat block, or set times ≥ 1")
        return None
    layers = [e.layer for e in expanded]
    paths = [e.path for e in expanded]
    if model.input_shape is not None:
        inputs = [("input", tuple(model.input_shape))]
    else:
        inputs = [(i.name, tuple(i.shape)) for i in model.inputs]
        dup = [n for n, c in Counter(n for n, _ in inputs).items() if c > 1]
        for n in dup:
            out.add(("model", "inputs"), f"duplicate input name {n!r}", received=n)
    for k, (n, shape) in enumerate(inputs):
        if math.prod(shape) > MAX_ARRAY_VALUES:
            out.add(("model", "inputs", k, "shape") if model.inputs else ("model", "input_shape"),
                    f"input {n!r} would hold {math.prod(shape):.3g} values per sample; {_NO_ARRAY}")
    input_names = [n for n, _ in inputs]
    names = _layer_names(layers, paths, input_names, out)
    known = input_names + names
    duplicated = {n for n, c in Counter(names).items() if c > 1}

    edges: dict[str, list[str]] = {}
    for i, (layer, name) in enumerate(zip(layers, names)):
        if layer.inputs:
            srcs = []
            for j, src in enumerate(layer.inputs):
                if src not in known:
                    guess = did_you_mean(src, known)
                    out.add(paths[i] + ("inputs", j), f"unknown input {src!r}", received=src,
                            allowed=format_choices(known), hint=f"did you mean {guess!r}?" if guess else None)
                elif src == name and name not in duplicated:  # with a duplicate name, `src` may mean the other layer
                    out.add(paths[i] + ("inputs", j), "a layer cannot take its own output as input", received=src)
                elif src != name:
                    srcs.append(src)
            edges[name] = srcs
        elif i == 0:
            if len(input_names) > 1:
                out.add(paths[0], "the first layer needs `inputs` since the model has several inputs",
                        allowed=format_choices(input_names))
                edges[name] = []
            else:
                edges[name] = [input_names[0]]
        else:
            edges[name] = [names[i - 1]]
    if out.issues:
        return None

    order, cyclic = _toposort(names, edges, input_names)
    if cyclic:
        remaining = set(cyclic)
        cycle = _find_cycle(cyclic[0], edges, remaining)
        idx = names.index(cycle[0])
        out.add(paths[idx] + ("inputs",), "the layers form a cycle: " + " → ".join(reversed(cycle)))
        return None

    outputs = list(model.outputs) if model.outputs else [names[-1]]
    for j, o in enumerate(outputs):
        if o not in names:
            guess = did_you_mean(o, names)
            out.add(("model", "outputs", j) if model.outputs else ("model", "outputs"), f"unknown output layer {o!r}",
                    received=o, allowed=format_choices(names), hint=f"did you mean {guess!r}?" if guess else None)
    if len(set(outputs)) != len(outputs):
        out.add(("model", "outputs"), "an output is listed twice", received=outputs)
    if out.issues:
        return None

    # every layer must lead to an output, every input must be used
    needed: set[str] = set()
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        stack += edges.get(n, [])
    for i, name in enumerate(names):
        if name not in needed:
            out.add(paths[i], f"layer {name!r} does not lead to any output",
                    hint=f"outputs are {format_choices(outputs)}; list it in model.outputs or remove it")
    for j, name in enumerate(input_names):
        if name not in needed:
            path = ("model", "inputs", j) if model.inputs else ("model", "input_shape")
            out.add(path, f"input {name!r} is not used by any layer leading to an output")
    if out.issues:
        return None

    shapes: dict[str, tuple[int, ...]] = dict(inputs)
    dtypes = {n: "float32" for n in input_names} if model.inputs is None else {i.name: i.dtype for i in model.inputs}
    nodes = [NodeIR(name=n, op="input", shape=s, attrs={"dtype": dtypes[n]},
                    spec_path=("model", "input_shape") if model.input_shape is not None else ("model", "inputs", k))
             for k, (n, s) in enumerate(inputs)]
    index = {n: i for i, n in enumerate(names)}
    failed: set[str] = set()
    for name in order:
        i = index[name]
        if any(src in failed for src in edges[name]):
            failed.add(name)  # its input could not be lowered: that error is already reported
            continue
        node = _lower_layer(layers[i], name, paths[i], edges[name], [shapes[s] for s in edges[name]], model.defaults,
                            registry, out)
        if node is None:
            failed.add(name)
            continue
        problems = [f"{p} (input {src!r})" for src in edges[name] if (p := dtype_problem(node.op, dtypes.get(src, "float32")))]
        if problems:
            out.add(paths[i], "; ".join(problems), received=list(edges[name]))
            failed.add(name)
            continue
        shapes[name] = node.shape
        nodes.append(node)
    if out.issues:
        return None
    return input_names, nodes, outputs


#: The most float32 values one array can hold: 2**61 values are 2**63 bytes, the limit of a 64-bit index.
MAX_ARRAY_VALUES = 2**61
_NO_ARRAY = "no array can hold more than 2**61 float32 values (8 EiB, all a 64-bit machine can address)"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(f"{d:,}" for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _lower_layer(layer: Any, name: str, path: Loc, srcs: list[str], in_shapes: list[tuple[int, ...]], defaults: Any,
                 registry: Registry, out: _Collector) -> NodeIR | None:
    """One layer to one node: the layer type's lowering, then the op's shape and parameter rules."""
    ltype = registry.layers[layer.type]
    try:
        draft = ltype.lower(layer, in_shapes, defaults)
        op = registry.ops.get(draft.op)
        if op is None:
            out.add(path, f"layer type {layer.type!r} lowers to op {draft.op!r}, which neither dnnc nor a plugin "
                          "defines (a bug in the plugin that adds this layer type)")
            return None
        try:
            attrs = draft.attrs if isinstance(draft.attrs, op.attrs) else op.attrs.model_validate(dict(draft.attrs))
        except ValidationError as exc:
            out.add(path, f"layer type {layer.type!r} gives op {draft.op!r} invalid attributes (a bug in its "
                          f"lowering): {_attr_errors(exc)}")
            return None
        shape = op.output_shape(attrs, in_shapes)
        specs = op.param_specs(attrs, in_shapes)
    except LoweringError as exc:
        key_path = path + ((exc.key,) if exc.key and exc.key in layer.model_fields_set else ())
        extra = {"received": exc.received} if exc.received is not None else {}
        out.add(key_path, exc.message, allowed=exc.allowed, **extra)
        return None
    arrays = [("this layer's output", shape, " per sample")] + [
        (f"this layer's {s.name} of shape {_shape_text(s.shape)}", s.shape, "") for s in specs]
    for what, dims, per in arrays:
        if math.prod(dims) > MAX_ARRAY_VALUES:
            key = next((k for k in ("units", "shape") if k in layer.model_fields_set), None)
            extra = {"received": getattr(layer, key)} if key else {}
            out.add(path + ((key,) if key else ()), f"{what} would hold {math.prod(dims):.3g} values{per}; {_NO_ARRAY}",
                    **extra)
            return None
    chosen = {p.name: p for p in draft.params}
    unknown = sorted(set(chosen) - {s.name for s in specs})
    if unknown:
        out.add(path, f"layer type {layer.type!r} chose initializers for {unknown}, which op {draft.op!r} does not "
                      "have (a bug in its lowering)")
        return None
    params = tuple(
        ParamIR(name=s.name, shape=s.shape, trainable=s.trainable,
                init=chosen[s.name].init if s.name in chosen else {"type": s.default_init},
                regularizer=chosen[s.name].regularizer if s.name in chosen else None)
        for s in specs)
    for param in params:
        if param.init.type == "orthogonal" and len(param.shape) < 2:
            key = {"recurrent_kernel": "recurrent_init"}.get(param.name, f"{param.name}_init")
            chosen_here = key in layer.model_fields_set
            out.add(path + ((key,) if chosen_here else ()),
                    f"the orthogonal initializer needs a parameter of rank ≥ 2, but {param.name} has shape "
                    f"{_shape_text(param.shape)}", received="orthogonal",
                    allowed="another initializer for this parameter (the layer's or model.defaults')")
            return None
    node = NodeIR(name=name, op=draft.op, inputs=tuple(srcs), attrs=attrs, shape=shape, params=params,
                  spec_path=path)
    trainable = getattr(layer, "trainable", True)  # the spec key of LayerBase (plugin tables may lack it)
    if not trainable:
        if not specs:
            out.add(path + ("trainable",), f"layer {name!r} ({layer.type}) has no weights to freeze", received=False,
                    hint="trainable = false applies to layers with weights (dense, maxout, batch_norm…)")
            return None
        node = set_trainable(node, False, op, specs)
    return node


# ---------------------------------------------------------------------------
# outputs, losses, metrics
# ---------------------------------------------------------------------------

def _final_activation(node: NodeIR) -> str | None:
    return node.attrs.activation.type if node.op in ("dense", "activation") else None


def _strip_activation(node: NodeIR) -> NodeIR:
    return node.model_copy(update={"attrs": node.attrs.model_copy(update={"activation": LINEAR})})


def _resolve_metric(metric: dict, loss_type: str | None, shape: tuple[int, ...], target: str, path, out: _Collector) -> dict | None:
    kind = metric["type"]
    name = metric.get("name") or kind
    resolved = dict(metric, name=name)
    classification = target in ("sparse", "one_hot", "binary")
    if kind == "accuracy":
        if target == "sparse":
            resolved["type"] = "sparse_categorical_accuracy"
        elif target == "one_hot":
            resolved["type"] = "categorical_accuracy"
        elif target == "binary" or shape[-1:] == (1,):
            resolved.update(type="binary_accuracy", threshold=0.5)
        else:
            out.add(path, "accuracy needs a classification loss or a single output unit", received=loss_type)
            return None
    elif kind == "top_k_accuracy" and target not in ("sparse", "one_hot"):
        out.add(path, "top_k_accuracy needs a categorical cross-entropy loss", received=loss_type)
        return None
    elif kind in ("precision", "recall", "binary_accuracy") and target not in ("binary",) and shape[-1:] != (1,):
        out.add(path, f"{kind} is defined for binary outputs (sigmoid / one unit)", received=loss_type)
        return None
    elif kind in ("sparse_categorical_accuracy",) and target != "sparse":
        out.add(path, f"{kind} needs integer class labels (sparse_categorical_crossentropy)", received=loss_type)
        return None
    elif kind in ("categorical_accuracy",) and target != "one_hot":
        out.add(path, f"{kind} needs one-hot labels (categorical_crossentropy)", received=loss_type)
        return None
    resolved["target"] = target if classification else "regression"
    return resolved


def lower_outputs(spec: Any, nodes: list[NodeIR], output_names: list[str], out: _Collector) -> list[OutputIR]:
    training = spec.training
    by_name = {n.name: n for n in nodes}
    consumers = Counter(src for n in nodes for src in n.inputs)

    def per_output(value, key):
        """Split a single-or-per-output training value; report unknown output names."""
        if isinstance(value, dict):
            for o in value:
                if o not in output_names:
                    guess = did_you_mean(o, output_names)
                    out.add(("training", key, o), f"unknown output {o!r}", allowed=format_choices(output_names),
                            hint=f"did you mean {guess!r}?" if guess else None)
            return {o: value.get(o) for o in output_names}, True
        return {o: value for o in output_names}, False

    if training is None:
        return [OutputIR(name=o, shape=by_name[o].shape) for o in output_names]
    losses, loss_keyed = per_output(training.loss, "loss") if training.loss is not None else ({o: None for o in output_names}, False)
    metrics, metrics_keyed = per_output(training.metrics, "metrics")
    weights, _ = per_output(training.loss_weights or {}, "loss_weights")
    if training.loss is None:
        out.add(("training",), "missing required key 'loss'")
    result = []
    for o in output_names:
        node = by_name[o]
        loss_model = losses[o]
        if loss_model is None:
            if training.loss is not None:
                out.add(("training", "loss"), f"no loss for output {o!r}", allowed=format_choices(output_names))
            continue
        loss = loss_model.model_dump(mode="json")
        loss_path = ("training", "loss", o) if loss_keyed else ("training", "loss")
        ltype = loss["type"]
        head = "linear"
        target = _TARGET_KIND.get(ltype, "regression")
        if ltype in _CE_HEAD:
            want = _CE_HEAD[ltype]
            final = _final_activation(node)
            if loss.get("from_logits"):
                if final in ("softmax", "sigmoid"):
                    out.add(node.spec_path, f"loss {ltype} has from_logits = true but output {o!r} already ends in {final}",
                            hint="remove the activation or set from_logits = false")
                head = want
            elif final == want:
                if consumers[o]:
                    out.add(node.spec_path, f"output {o!r} feeds other layers, so its {want} cannot be folded into the loss",
                            hint="end the output in a linear layer and set from_logits = true")
                by_name[o] = _strip_activation(node)
                head = want
            else:
                out.add(node.spec_path, f"loss {ltype} needs output {o!r} to end in {want} (it ends in {final or node.op})",
                        hint=f'add activation = "{want}", or set from_logits = true on the loss if the output is logits')
                continue
            if want == "softmax" and node.shape[-1] < 2:
                out.add(node.spec_path, f"{ltype} needs at least 2 output units (received {node.shape[-1]})")
        loss["from_logits"] = True if ltype in _CE_HEAD else loss.get("from_logits", False)
        mlist = metrics[o] or []
        mpath = ("training", "metrics", o) if metrics_keyed else ("training", "metrics")
        resolved = [r for k, m in enumerate(mlist)
                    if (r := _resolve_metric(m.model_dump(mode="json"), ltype, node.shape, target, mpath + (k,), out))]
        result.append(OutputIR(name=o, shape=node.shape, head=head, loss=loss,
                               loss_weight=float(weights[o]) if weights[o] is not None else 1.0,
                               metrics=tuple(resolved), target=target))
    # write back stripped nodes
    for i, n in enumerate(nodes):
        nodes[i] = by_name[n.name]
    return result


def check_class_weight(spec: Any, outputs: list[OutputIR], out: _Collector) -> None:
    """class_weight needs one output with a classification loss, and names classes that output has."""
    weights = spec.training.class_weight if spec.training is not None else None
    if not weights:
        return
    path = ("training", "class_weight")
    trained = [o for o in outputs if o.loss is not None]
    if len(trained) != 1:
        out.add(path, f"class_weight needs a model with one output; this model has {len(trained)} "
                      f"({', '.join(o.name for o in trained)})", hint="use per-row sample weights (data.sample_weight)")
        return
    output = trained[0]
    if output.target == "regression":
        out.add(path, f"class_weight needs a classification loss; output {output.name!r} uses {output.loss['type']!r}")
        return
    classes = 2 if output.target == "binary" else output.shape[-1]
    if output.target == "binary" and output.shape[-1] != 1:
        out.add(path, f"class_weight needs one label per sample; output {output.name!r} has {output.shape[-1]} "
                      "binary targets")
        return
    for key in weights:
        if int(key) >= classes:
            out.add(path + (key,), f"class {key} does not exist: output {output.name!r} has {classes} classes",
                    received=key, allowed=f"0…{classes - 1}")


def lower_training(spec: Any, outputs: list[OutputIR], nodes: list[NodeIR], out: _Collector) -> TrainingIR | None:
    t = spec.training
    if t is None:
        return None
    if t.compile and t.strict_parity:
        out.add(("training", "compile"), "a compiled step cannot be used with strict_parity: compilation changes the "
                "float32 roundings that strict parity holds the backends to", received=True,
                hint="set compile = false, or strict_parity = false")
    callbacks = []
    for i, c in enumerate(t.callbacks):
        config = c.model_dump(mode="json")
        if config.get("type") == "unfreeze":
            config = _lower_unfreeze(config, nodes, ("training", "callbacks", i), out)
        callbacks.append(config)
    return TrainingIR(
        optimizer=t.optimizer.model_dump(mode="json"),
        batch_size=t.batch_size,
        validation_batch_size=t.validation_batch_size or t.batch_size,
        epochs=t.epochs,
        seed=t.seed,
        callbacks=tuple(callbacks),
        class_weight=dict(t.class_weight) if t.class_weight else None,
        strict_parity=t.strict_parity,
        device=t.device,
        steps_per_execution=t.steps_per_execution,
        compile=t.compile,
        checkpoint=CheckpointIR(**t.checkpoint.model_dump()),
    )


def _lower_unfreeze(config: dict, nodes: list[NodeIR], path: tuple, out: _Collector) -> dict:
    """The unfreeze callback with its layers explicit: the named ones, checked to be frozen, or every frozen one."""
    frozen = [n.name for n in nodes if not n.trainable]
    if config["layers"] is None:
        if not frozen:
            out.add(path, "unfreeze has nothing to unfreeze: no layer has trainable = false",
                    hint="set trainable = false on the layers to train frozen first")
        return dict(config, layers=frozen)
    names = {n.name for n in nodes}
    for j, name in enumerate(config["layers"]):
        if name not in names:
            guess = did_you_mean(name, frozen or sorted(names))
            out.add(path + ("layers", j), f"unknown layer {name!r}", received=name,
                    allowed=format_choices(frozen) if frozen else None,
                    hint=f"did you mean {guess!r}?" if guess else None)
        elif name not in frozen:
            out.add(path + ("layers", j), f"layer {name!r} is not frozen (it has no trainable = false)", received=name,
                    allowed=format_choices(frozen) if frozen else "none: no layer is frozen")
    return config


SEQUENCE_IMAGE_SHAPE = (28, 28)


def lower_data(spec: Any, outputs: list[OutputIR], out: _Collector) -> dict | None:
    """The data section with every default explicit; label encoding resolved from the loss."""
    if spec.data is None:
        return None
    data = spec.data.model_dump(mode="json")
    targets = {o.target for o in outputs}
    if "labels" in data:
        explicit = "labels" in spec.data.model_fields_set
        if "one_hot" in targets:
            if explicit and data["labels"] != "one_hot":
                out.add(("data", "labels"), "categorical_crossentropy needs one-hot labels", received=data["labels"],
                        allowed="'one_hot' (or use sparse_categorical_crossentropy)")
            data["labels"] = "one_hot"
        elif targets & {"sparse"} and explicit and data["labels"] != "sparse":
            out.add(("data", "labels"), "sparse_categorical_crossentropy needs integer labels", received=data["labels"],
                    allowed="'sparse' (or use categorical_crossentropy)")
        elif targets == {"binary"} and not explicit:
            data["labels"] = "binary"  # 0/1 float32 (n, 1) for binary_crossentropy on one sigmoid unit
    return data


def check_sequence_input(spec: Any, nodes: list[NodeIR], out: _Collector) -> None:
    """``data.as_sequence`` gives samples of shape (28, 28): the model's one input must have that shape."""
    if spec.data is None or not spec.data.as_sequence:
        return
    shapes = [n.shape for n in nodes if n.op == "input"]
    if shapes != [SEQUENCE_IMAGE_SHAPE]:
        out.add(("data", "as_sequence"), "as_sequence reads each image as 28 steps of 28 features: the model needs "
                f"one input of shape [28, 28] (received input shapes {[list(s) for s in shapes]})", received=True,
                allowed="input_shape = [28, 28]")


def lower_init_from(spec: Any, nodes: list[NodeIR], out: _Collector) -> InitFromIR | None:
    """``model.init_from`` with the layer list as a mapping; every named layer must be one with weights."""
    init = spec.model.init_from
    if init is None:
        return None
    if init.layers is None:
        return InitFromIR(source=init.run, layers=None)
    pairs = init.layers.items() if isinstance(init.layers, dict) else ((n, n) for n in init.layers)
    mapping: dict[str, str] = {}
    with_weights = [n.name for n in nodes if n.params]
    for k, (target, source) in enumerate(pairs):
        path = ("model", "init_from", "layers", target if isinstance(init.layers, dict) else k)
        if target not in with_weights:
            known = target in {n.name for n in nodes}
            guess = None if known else did_you_mean(target, with_weights)
            out.add(path, f"layer {target!r} " + ("has no weights to copy" if known else "is not a layer of this model"),
                    received=target, allowed=format_choices(with_weights) or "none",
                    hint=f"did you mean {guess!r}?" if guess else None)
        mapping[target] = source
    return InitFromIR(source=init.run, layers=mapping)


def lower(spec: Any, registry: Registry, *, name: str) -> ModelIR:
    """Lower a validated spec; raise SpecError with every semantic problem found."""
    out = _Collector()
    lowered = lower_model(spec, registry, out)
    if lowered is None:
        raise SpecError(out.issues)
    input_names, nodes, output_names = lowered
    outputs = lower_outputs(spec, nodes, output_names, out)
    data = lower_data(spec, outputs, out)
    check_sequence_input(spec, nodes, out)
    check_class_weight(spec, outputs, out)
    training = lower_training(spec, outputs, nodes, out)
    init_from = lower_init_from(spec, nodes, out)
    if out.issues:
        raise SpecError(out.issues)
    ir = ModelIR(
        name=spec.name or name,
        spec_version=spec.spec_version,
        inputs=tuple(input_names),
        nodes=tuple(nodes),
        outputs=tuple(outputs),
        training=training,
        data=data,
        conformance=spec.conformance.model_dump(mode="json"),
        init_from=init_from,
    )
    verify(ir, registry.ops)  # a failure here is a bug in dnnc or in a plugin's lowering, never the spec's
    return ir
