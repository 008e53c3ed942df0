"""The ejected Keras 3 module: one readable file importing only keras, NumPy and the standard library.

Layout: docstring, imports, constants, helper snippets, ``build_model``
(functional API, one emitter per op from :mod:`.keras_emitters`),
``load_canonical_weights``, ``predict``, ``build_optimizer`` (the stock Keras
class, every hyperparameter explicit), ``compile_model`` (losses from the
logits, loss weights, metrics), the data section, ``build_callbacks``, ``train``
(``model.fit``), ``evaluate`` and ``main``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..compiler.ir import ModelIR, OutputIR
from ..numerics.losses import loss_input_kind
from ..runner.callbacks.monitor import resolve_mode
from ..runner.metrics import logit_threshold
from .code import call, comment, docstring, kw, py, statements
from .context import OPTIMIZER_HYPERPARAMETERS, EjectContext, EjectError, node_comment
from .data import data_section
from .keras_emitters import EMITTERS, KerasNode
from .torch_module import _header, _no_data, _spec_dir, assemble

SNIPPETS = {
    "gelu_tanh": [
        '@keras.saving.register_keras_serializable(package="ejected")',
        "def gelu_tanh(x):",
        '    """GELU with the tanh approximation (no stock Keras layer takes `approximate`)."""',
        "    return keras.ops.gelu(x, approximate=True)",
    ],
}

OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "adamax": "Adamax",
                     "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta"}

SCHEDULES = {
    "exponential_decay": ("ExponentialDecay", ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")),
    "piecewise_constant": ("PiecewiseConstantDecay", ("boundaries", "values")),
    "cosine_decay": ("CosineDecay", ("initial_learning_rate", "decay_steps", "alpha")),
    "polynomial_decay": ("PolynomialDecay", ("initial_learning_rate", "decay_steps", "end_learning_rate", "power",
                                             "cycle")),
    "inverse_time_decay": ("InverseTimeDecay", ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")),
}

HEAD_EXPR = {"softmax": "keras.ops.softmax({z}, axis=-1)", "sigmoid": "keras.ops.sigmoid({z})"}


def _pack(ir: ModelIR, names: list[str], ctx: EjectContext) -> str:
    if len(names) == 1:
        return ctx.var(names[0])
    return "{" + ", ".join(f"{py(n)}: {ctx.var(n)}" for n in names) + "}"


def build_function(ir: ModelIR, ctx: EjectContext) -> tuple[list[str], dict[str, KerasNode]]:
    emitted: dict[str, KerasNode] = {}
    body: list[str] = ["    keras.utils.set_random_seed(SEED)"]
    for node in ir.nodes:
        emitter = EMITTERS.get(node.op)
        if emitter is None:
            raise EjectError(f"cannot eject op {node.op!r} (node {node.name!r}) to keras: no emitter "
                             f"(keras emitters: {', '.join(sorted(EMITTERS))})")
        out = emitter(node, ctx)
        emitted[node.name] = out
        body += comment(node_comment(node), 1) + out.lines
    inputs = _pack(ir, list(ir.inputs), ctx)
    outputs = _pack(ir, [o.name for o in ir.outputs], ctx)
    body += call("model = keras.Model", [f"inputs={inputs}", f"outputs={outputs}", *kw(name=ir.name.replace("/", "_"))],
                 1)
    frozen = dict.fromkeys(w.layer for node in ir.nodes if not node.trainable for w in emitted[node.name].weights)
    if frozen:
        body.append("    # frozen layers (trainable = false): not trained; a frozen batch norm runs in inference mode")
        body += [f"    model.get_layer({py(layer)}).trainable = False" for layer in frozen]
    body += ["    if weights is not None:", "        load_canonical_weights(model, weights)", "    return model"]
    heads = ", ".join(f"{o.name}: {o.head}" for o in ir.outputs)
    doc = (f"The functional model {ir.name!r}; it returns the logits (the output heads, {heads}, are applied "
           "by predict()). Parameters are drawn by the initializers below from keras.utils.set_random_seed(SEED) "
           "(the same distributions as dnnc's, not the same draws), or loaded from dnnc's canonical weights when "
           "`weights` names a weights.npz.")
    return ["def build_model(weights=WEIGHTS):", *docstring(doc, 1), *body], emitted


def weights_function(ir: ModelIR, emitted: Mapping[str, KerasNode]) -> list[str]:
    body = []
    for node in ir.nodes:
        layer = None
        for w in emitted[node.name].weights:
            if w.layer != layer:
                layer = w.layer
                body.append(f"layer = model.get_layer({py(layer)})")
            body.append(f"layer.{w.attribute}.assign(weights[{py(node.name + '/' + w.param)}])")
    lines = [
        "def load_canonical_weights(model, path):",
        *docstring("Load dnnc's canonical weights (a run's weights.npz: keys \"<node>/<param>\"). Their layouts "
                   "are Keras's (a dense kernel is (in, units)), so every array is assigned as it is.", 1),
    ]
    if not body:
        return lines + ["    return model"]
    return lines + ["    with np.load(path) as weights:", *statements(body, 2), "    return model"]


def predict_function(ir: ModelIR) -> list[str]:
    def head(out: OutputIR) -> str:
        z = "logits" if len(ir.outputs) == 1 else f"logits[{py(out.name)}]"
        if out.head == "linear":
            return f"np.asarray({z})"
        return f"keras.ops.convert_to_numpy({HEAD_EXPR[out.head].format(z=z)})"

    if len(ir.outputs) == 1:
        ret = [f"    return {head(ir.outputs[0])}"]
    else:
        ret = ["    return {", *[f"        {py(o.name)}: {head(o)}," for o in ir.outputs], "    }"]
    heads = ", ".join(f"{o.name}: {o.head}" for o in ir.outputs)
    return [
        "def predict(model, x):",
        *docstring(f"The model's predictions for NumPy inputs, the output heads applied ({heads}).", 1),
        "    logits = model.predict(x, batch_size=VALIDATION_BATCH_SIZE, verbose=0)",
        *ret,
    ]


# -- optimizer, losses, metrics --------------------------------------------------------------------------

def _value(v: Any) -> Any:
    return v if isinstance(v, bool) or v is None else float(v)


def optimizer_function(ir: ModelIR) -> list[str]:
    opt = ir.training.optimizer
    kind = opt["type"]
    if kind not in OPTIMIZER_CLASSES:
        raise EjectError(f"cannot eject optimizer {kind!r} (known: {', '.join(sorted(OPTIMIZER_CLASSES))})")
    lr = opt["learning_rate"]
    pre: list[str] = []
    if isinstance(lr, Mapping):
        cls, fields = SCHEDULES[lr["type"]]
        values = {f: (lr[f] if isinstance(lr[f], (bool, list)) else
                      (int(lr[f]) if f in ("decay_steps",) else float(lr[f]))) for f in fields}
        if lr["type"] == "piecewise_constant":
            values = {"boundaries": [int(b) for b in lr["boundaries"]], "values": [float(v) for v in lr["values"]]}
        pre = [f"# learning rate: {lr['type']}, Keras's schedule (the formula dnnc uses)"]
        pre += call(f"learning_rate = keras.optimizers.schedules.{cls}", [*kw(**values), *kw(name=lr["type"])], 1)
        rate = "learning_rate"
    else:
        rate = py(float(lr))
    wd = float(opt["weight_decay"])
    args = [f"learning_rate={rate}",
            *kw(**{k: _value(opt[k]) for k in OPTIMIZER_HYPERPARAMETERS[kind]}),
            # None and 0.0 are the same no-op in Keras; AdamW refuses None
            *kw(weight_decay=wd if (wd or kind == "adamw") else None, clipnorm=_value(opt.get("clipnorm")),
                clipvalue=_value(opt.get("clipvalue")), global_clipnorm=_value(opt.get("global_clipnorm")),
                use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                gradient_accumulation_steps=None)]
    return ["def build_optimizer():",
            *docstring(f"keras.optimizers.{OPTIMIZER_CLASSES[kind]} with every hyperparameter of the spec "
                       "(Keras 3's update rule is dnnc's).", 1),
            *[("    " + p if not p.startswith(" ") else p) for p in pre],
            *call(f"return keras.optimizers.{OPTIMIZER_CLASSES[kind]}", args, 1)]


def loss_expr(out: OutputIR) -> str:
    loss = out.loss
    kind = loss["type"]
    from_logits = loss_input_kind(loss, out.head) == "logits"
    reduction = {"reduction": "sum_over_batch_size"}
    if kind == "sparse_categorical_crossentropy":
        args = kw(from_logits=from_logits, ignore_class=None, axis=-1, **reduction, name=kind)
        return f"keras.losses.SparseCategoricalCrossentropy({', '.join(args)})"
    if kind in ("categorical_crossentropy", "binary_crossentropy"):
        cls = "CategoricalCrossentropy" if kind.startswith("categorical") else "BinaryCrossentropy"
        args = kw(from_logits=from_logits, label_smoothing=float(loss.get("label_smoothing", 0.0)), axis=-1,
                  **reduction, name=kind)
        return f"keras.losses.{cls}({', '.join(args)})"
    if out.head != "linear":
        raise EjectError(f"output {out.name!r}: {kind} after a {out.head} head is not ejected to keras")
    if kind == "mse":
        return f"keras.losses.MeanSquaredError({', '.join(kw(**reduction, name=kind))})"
    if kind == "mae":
        return f"keras.losses.MeanAbsoluteError({', '.join(kw(**reduction, name=kind))})"
    if kind == "huber":
        return f"keras.losses.Huber({', '.join(kw(delta=float(loss['delta']), **reduction, name=kind))})"
    raise EjectError(f"output {out.name!r}: no Keras loss for {kind!r}")


def metric_expr(out: OutputIR, metric: Mapping[str, Any]) -> tuple[str | None, str]:
    """(expression, note): the stock Keras metric on the logits, or None and why it is not ejected."""
    kind = metric["type"]
    name = metric.get("name") or kind
    m = "keras.metrics."
    sparse = out.target == "sparse"
    if kind == "sparse_categorical_accuracy":
        return f"{m}SparseCategoricalAccuracy(name={py(name)})", ""
    if kind == "categorical_accuracy":
        return f"{m}CategoricalAccuracy(name={py(name)})", ""
    if kind == "top_k_accuracy":
        cls = "SparseTopKCategoricalAccuracy" if sparse else "TopKCategoricalAccuracy"
        return f"{m}{cls}(k={int(metric.get('k', 5))}, name={py(name)})", ""
    if kind == "binary_accuracy":
        t = float(metric.get("threshold", 0.5))
        threshold = logit_threshold(t) if out.head == "sigmoid" else t
        note = f"threshold {t} on the probability = {threshold!r} on the logits" if out.head == "sigmoid" else ""
        return f"{m}BinaryAccuracy(name={py(name)}, threshold={py(threshold)})", note
    if out.head != "linear":
        return None, f"{name} ({kind}) needs the {out.head} of the logits, which no stock Keras metric applies"
    if kind in ("mse", "mae", "rmse"):
        cls = {"mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "rmse": "RootMeanSquaredError"}[kind]
        return f"{m}{cls}(name={py(name)})", ""
    if kind in ("precision", "recall"):
        cls = kind.capitalize()
        return f"{m}{cls}(thresholds={py(float(metric.get('threshold', 0.5)))}, name={py(name)})", ""
    return None, f"{name}: no stock Keras metric for {kind!r}"


def compile_function(ir: ModelIR) -> list[str]:
    outputs = [o for o in ir.outputs if o.loss is not None]
    notes: list[str] = []
    metrics: dict[str, list[str]] = {}
    for out in outputs:
        metrics[out.name] = []
        for metric in out.metrics:
            expr, note = metric_expr(out, metric)
            if note:
                notes.append(f"{out.name}: {note}")
            if expr is not None:
                metrics[out.name].append(expr)
    if len(ir.outputs) == 1:
        loss = loss_expr(outputs[0])
        weights = "None"
        metric_arg = "[" + ", ".join(metrics[outputs[0].name]) + "]"
    else:
        loss = "{" + ", ".join(f"{py(o.name)}: {loss_expr(o)}" for o in outputs) + "}"
        weights = py({o.name: float(o.loss_weight) for o in outputs})
        metric_arg = "{" + ", ".join(f"{py(n)}: [{', '.join(v)}]" for n, v in metrics.items()) + "}"
    args = ["optimizer=build_optimizer()", f"loss={loss}", f"loss_weights={weights}", f"metrics={metric_arg}",
            *kw(weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile=False,
                auto_scale_loss=True)]
    lines = ["def compile_model(model):",
             *docstring("The spec's optimizer, its losses (computed from the logits, Keras's sum_over_batch_size "
                        "reduction), loss weights and metrics (on the logits); the L1/L2 penalties are the "
                        "layers' regularizers.", 1)]
    lines += [line for note in notes for line in comment(note, 1)]
    return lines + _exploded("model.compile", args, 1) + ["    return model"]


def _exploded(head: str, args: list[str], indent: int) -> list[str]:
    """``head(`` + one argument per line with a trailing comma + ``)``: the layout ruff keeps."""
    from .code import _argument

    pad = "    " * indent
    lines = [f"{pad}{head}("]
    for a in args:
        if a.startswith(("loss={", "metrics={")) and len(pad) + 4 + len(a) > 88:
            key, _, value = a.partition("=")
            lines.append(f"{pad}    {key}={{")
            for item in _top_level(value[1:-1]):
                lines += _argument(item, indent + 2)
            lines.append(f"{pad}    }},")
        elif a.startswith("metrics=[") and len(pad) + 4 + len(a) > 88:
            lines.append(f"{pad}    metrics=[")
            for item in _top_level(a[len("metrics=["):-1]):
                lines += _argument(item, indent + 2)
            lines.append(f"{pad}    ],")
        else:
            lines += _argument(a, indent + 1)
    return lines + [f"{pad})"]


def _top_level(text: str) -> list[str]:
    from .code import split_args

    return split_args(text)


# -- callbacks, training ---------------------------------------------------------------------------------

def callbacks_function(ir: ModelIR) -> list[str]:
    items: list[str] = []
    notes: list[str] = []
    c = "keras.callbacks."
    for cb in ir.training.callbacks:
        kind = cb["type"]
        mode = resolve_mode(cb["monitor"], cb["mode"], ir) if "monitor" in cb else None
        if kind == "early_stopping":
            args = kw(monitor=cb["monitor"], min_delta=float(cb["min_delta"]), patience=cb["patience"], verbose=1,
                      mode=mode, baseline=cb["baseline"], restore_best_weights=cb["restore_best_weights"],
                      start_from_epoch=cb["start_from_epoch"])
            items.append(f"{c}EarlyStopping({', '.join(args)})")
        elif kind == "reduce_lr_on_plateau":
            args = kw(monitor=cb["monitor"], factor=float(cb["factor"]), patience=cb["patience"], verbose=1,
                      mode=mode, min_delta=float(cb["min_delta"]), cooldown=cb["cooldown"],
                      min_lr=float(cb["min_lr"]))
            items.append(f"{c}ReduceLROnPlateau({', '.join(args)})")
        elif kind == "model_checkpoint":
            path = cb["path"]
            full = path.endswith(".keras")
            if not full:
                stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
                notes.append(f"model_checkpoint: Keras saves weights only to a .weights.h5 file ({path!r} in the "
                             f"spec becomes {stem + '.weights.h5'!r})")
                path = stem + ".weights.h5"
            args = kw(filepath=path, monitor=cb["monitor"], verbose=0, save_best_only=cb["save_best_only"],
                      save_weights_only=not full, mode=mode, save_freq="epoch", initial_value_threshold=None)
            items.append(f"{c}ModelCheckpoint({', '.join(args)})")
        elif kind == "csv_logger":
            items.append(f"{c}CSVLogger({', '.join(kw(filename=cb['path'], separator=',', append=cb['append']))})")
        elif kind == "terminate_on_nan":
            items.append(f"{c}TerminateOnNaN()")
        elif kind == "tensorboard":
            items.append(f"{c}TensorBoard({', '.join(kw(log_dir=cb['log_dir'], histogram_freq=0))})")
        elif kind == "histograms":
            notes.append("histograms: dnnc's per-layer activation and gradient histograms have no stock Keras "
                         "callback; TensorBoard's histogram_freq writes the weights' histograms instead")
            args = kw(log_dir=cb["log_dir"], histogram_freq=int(cb["every_epochs"]))
            items.append(f"{c}TensorBoard({', '.join(args)})")
        else:
            notes.append(f"{kind}: not ejected (no Keras counterpart)")
    lines = ["def build_callbacks():",
             *docstring("The spec's callbacks as stock Keras callbacks, every argument explicit.", 1)]
    lines += [line for note in notes for line in comment(note, 1)]
    if not items:
        return lines + ["    return []"]
    body = ["    return ["]
    for item in items:
        from .code import _argument

        body += _argument(item, 2)
    return lines + body + ["    ]"]


TRAIN = '''
def unpack(arrays):
    """One array for a model with one input (output), else the dict keyed by name."""
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def train(model, data, epochs=EPOCHS):
    """model.fit with the spec's batch size, epochs and callbacks. Keras shuffles the
    training rows with its own generator every epoch, so the batches are not dnnc's
    (a Philox permutation keyed by the seed and the epoch); the rest follows the spec."""
    train, validation = data["train"], data["validation"]
    validation_data = None
    if validation is not None:
        validation_data = (unpack(validation["inputs"]), unpack(validation["targets"]))
    return model.fit(
        x=unpack(train["inputs"]),
        y=unpack(train["targets"]),
        batch_size=BATCH_SIZE,
        epochs=epochs,
        verbose=2,
        callbacks=build_callbacks(),
        validation_data=validation_data,
        shuffle=True,
        class_weight=CLASS_WEIGHT,
        sample_weight=train["sample_weight"],
        validation_batch_size=VALIDATION_BATCH_SIZE,
    )


def evaluate(model, split):
    """Losses and metrics in inference mode, VALIDATION_BATCH_SIZE rows at a time."""
    return model.evaluate(
        x=unpack(split["inputs"]),
        y=unpack(split["targets"]),
        batch_size=VALIDATION_BATCH_SIZE,
        sample_weight=split["sample_weight"],
        verbose=0,
        return_dict=True,
    )


def main():
    data = load_data()
    model = compile_model(build_model())
    train(model, data)
    if data["test"] is not None:
        print("test:", evaluate(model, data["test"]))


if __name__ == "__main__":
    main()
'''


def keras_module(ir: ModelIR, *, source: str, version: str, weights: str | None = None) -> str:
    """The source of the ejected Keras module for `ir` (compiled from the spec file `source`)."""
    from .code import dedent_source

    ctx = EjectContext(ir, "keras", layer_names={n.name for n in ir.nodes})
    build_lines, emitted = build_function(ir, ctx)
    training = ir.training is not None
    constants = ["# the spec's folder (as named when ejecting): its relative data paths start there",
                 f"SPEC_DIR = {py(_spec_dir(source))}"]
    if training:
        t = ir.training
        table = {int(k): float(v) for k, v in t.class_weight.items()} if t.class_weight else None
        constants += [f"SEED = {t.seed}", f"BATCH_SIZE = {t.batch_size}",
                      f"VALIDATION_BATCH_SIZE = {t.validation_batch_size}", f"EPOCHS = {t.epochs}",
                      f"CLASS_WEIGHT = {py(table)}"]
    else:
        constants += ["SEED = 0", "VALIDATION_BATCH_SIZE = 256"]
    constants += ["# dnnc's canonical weights (a run's weights.npz) that build_model() loads, or None",
                  f"WEIGHTS = {py(weights)}"]
    sections: list[list[str]] = [SNIPPETS[name] for name in ctx.snippets]
    sections += [build_lines, weights_function(ir, emitted), predict_function(ir)]
    if training:
        sections += [optimizer_function(ir), compile_function(ir)]
        sections.append(data_section(ir, ctx) or _no_data())
        sections.append(callbacks_function(ir))
        sections.append(dedent_source(TRAIN))
    else:
        sections.append(["def main():", "    model = build_model()", "    model.summary()", "", "",
                         'if __name__ == "__main__":', "    main()"])
    return assemble(_header(ir, source, version, "keras"), constants, sections, "keras")
