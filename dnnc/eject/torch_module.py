"""The ejected PyTorch module: one readable file importing only torch, NumPy and the standard library.

Layout: docstring, imports, constants, helper snippets, ``class Model``,
``build_model``, ``load_canonical_weights``, ``predict``, ``compute_loss``,
``metric_sums``, the optimizer (a class with Keras 3's update rule),
``learning_rate_at``, the data section, the callbacks and the training loop
(``train``, ``evaluate``), ``main``.  Layers come from the per-op emitters of
:mod:`.torch_emitters`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..backends.torch.layout import torch_axes
from ..compiler.embedding_ops import token_inputs
from ..compiler.ir import ModelIR, OutputIR
from ..numerics.losses import loss_input_kind
from ..runner.callbacks.monitor import resolve_mode
from ..runner.metrics import logit_threshold, metric_key
from .code import call, comment, dedent_source, docstring, join_sections, kw, py, statements
from .context import OPTIMIZER_HYPERPARAMETERS, EjectContext, EjectError, node_comment
from .data import data_section
from .schedules import learning_rate_function
from .torch_emitters import EMITTERS, TorchNode
from .torch_support import OPTIMIZER_CLASSES, REQUIRES, SNIPPETS

HEAD_EXPR = {"softmax": "torch.softmax({z}, dim=-1)", "sigmoid": "torch.sigmoid({z})", "linear": "{z}"}


def _outputs_expr(ir: ModelIR, out: OutputIR, container: str) -> str:
    return container if len(ir.outputs) == 1 else f"{container}[{py(out.name)}]"


# -- the model -----------------------------------------------------------------------------------

def model_class(ir: ModelIR, ctx: EjectContext) -> tuple[list[str], dict[str, TorchNode]]:
    emitted: dict[str, TorchNode] = {}
    init: list[str] = []
    forward: list[str] = []
    for node in ir.nodes:
        emitter = EMITTERS.get(node.op)
        if emitter is None:
            raise EjectError(f"cannot eject op {node.op!r} (node {node.name!r}) to torch: no emitter "
                             f"(torch emitters: {', '.join(sorted(EMITTERS))})")
        out = emitter(node, ctx)
        emitted[node.name] = out
        if out.init:
            init += ([""] if init else []) + comment(node_comment(node), 2) + statements(out.init, 2)
            init += _frozen_lines(node, out)
        if out.forward:
            forward += comment(node_comment(node), 2) + statements(out.forward, 2)
    args = ", ".join(["self", *(ctx.var(name) for name in ir.inputs)])
    if len(ir.outputs) == 1:
        ret = [f"        return {ctx.var(ir.outputs[0].name)}"]
    else:
        ret = ["        return {", *[f"            {py(o.name)}: {ctx.var(o.name)}," for o in ir.outputs], "        }"]
    heads = ", ".join(f"{o.name}: {o.head}" for o in ir.outputs)
    lines = [
        "class Model(nn.Module):",
        *docstring(f"{ir.name}: the IR's nodes in order. forward() returns the logits: the output heads "
                   f"({heads}) are applied by predict(), and the losses are computed from the logits.", 1),
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *init,
        "",
        *call("def forward", args.split(", "), 1, close="):"),
        *forward,
        *ret,
    ]
    return lines, emitted


def _frozen_lines(node, out: TorchNode) -> list[str]:
    """A frozen node (trainable = false): its parameters get no gradient (and so no optimizer slot)."""
    if node.trainable or not out.weights:
        return []
    modules = dict.fromkeys(w.attribute.split(".")[0] for w in out.weights)
    return ["        # frozen (trainable = false): no gradient, not trained",
            *[f"        self.{m}.requires_grad_(False)" for m in modules]]


def weights_function(ir: ModelIR, ctx: EjectContext, emitted: Mapping[str, TorchNode]) -> list[str]:
    body = []
    conv = gru = single_bias = False
    for node in ir.nodes:
        shapes = {p.name: tuple(p.shape) for p in node.params}
        for w in emitted[node.name].weights:
            key = f"{node.name}/{w.param}"
            value = f"weights[{py(key)}]" + ("" if w.row is None else f"[{w.row}]")
            if w.gru_gates:
                gru = True
                value = f"gru_gates_to_torch({value})"
            if w.transposed:
                axes = torch_axes(len(shapes[w.param]))
                conv = conv or len(axes) > 2
                value += ".T" if len(axes) == 2 else f".transpose{py(axes)}"
            single_bias = single_bias or w.attribute.endswith(".bias_ih_l0") and not w.gru_gates
            body.append(f"model.{w.attribute}.copy_(torch.from_numpy({value}))")
    layouts = ("A dense kernel is (in, out) there and torch's Linear.weight is (out, in), so kernels are "
               "transposed" + ("; a convolution kernel is (*window, in/groups, filters) there and torch's "
                               "weight is (filters, in/groups, *window), so its axes are reordered"
                               if conv else "") +
               ("; a recurrent kernel (features or units, k * units) is torch's weight_ih_l0 or weight_hh_l0 "
                "transposed" if any(w.attribute.endswith("_l0") for n in emitted.values() for w in n.weights)
                else "") +
               ("; Keras's one bias of an RNN or LSTM is torch's bias_ih_l0 (bias_hh_l0 stays zero)"
                if single_bias else "") +
               ("; a fused GRU's gate blocks are reordered from Keras's z, r, h to torch's r, z, n "
                "(gru_gates_to_torch) and its two bias rows are bias_ih_l0 and bias_hh_l0" if gru else "") +
               "; every other array is copied as it is.")
    lines = [
        "def load_canonical_weights(model, path):",
        *docstring("Load dnnc's canonical weights (a run's weights.npz: keys \"<node>/<param>\", Keras "
                   "layouts). " + layouts, 1),
        "    weights = np.load(path)",
    ]
    if not body:
        return lines + ["    return model"]
    return lines + ["    with torch.no_grad():", *statements(body, 2), "    return model"]


def predict_function(ir: ModelIR, ctx: EjectContext) -> list[str]:
    def head(out: OutputIR) -> str:
        return HEAD_EXPR[out.head].format(z=_outputs_expr(ir, out, "logits"))

    if len(ir.outputs) == 1:
        ret = [f"    return {head(ir.outputs[0])}.numpy()"]
    else:
        ret = ["    return {", *[f"        {py(o.name)}: {head(o)}.numpy()," for o in ir.outputs], "    }"]
    heads = ", ".join(f"{o.name}: {o.head}" for o in ir.outputs)
    return [
        "def predict(model, *inputs):",
        *docstring(f"The model's predictions for NumPy inputs, the output heads applied ({heads}).", 1),
        "    model.eval()",
        *_input_tensors(ir),
        *ret,
    ]


def _input_tensors(ir: ModelIR) -> list[str]:
    tokens = token_inputs(ir)
    if not tokens:
        return ["    with torch.no_grad():",
                "        logits = model(*[torch.as_tensor(x, dtype=torch.float32) for x in inputs])"]
    dtypes = "{" + ", ".join(f"{py(name)}: torch.int64" for name in tokens) + "}"
    return ["    # token ids (an embedding's input) as int64, the other inputs as float32",
            f"    dtypes = {dtypes}",
            "    tensors = [",
            "        torch.as_tensor(x, dtype=dtypes.get(name, torch.float32))",
            "        for name, x in zip(INPUTS, inputs)",
            "    ]",
            "    with torch.no_grad():",
            "        logits = model(*tensors)"]


# -- losses and metrics ------------------------------------------------------------------------------

def _per_sample_loss(ir: ModelIR, out: OutputIR, ctx: EjectContext) -> tuple[list[str], str]:
    """(statements, expression) of the per-sample loss of one output."""
    loss = out.loss or {}
    kind = loss["type"]
    if loss_input_kind(loss, out.head) != "logits" and kind not in ("mse", "mae", "huber"):
        raise EjectError(f"output {out.name!r}: {kind} on probabilities is not ejected (dnnc's compiler always "
                         "computes cross-entropies from logits)")
    z = _outputs_expr(ir, out, "outputs")
    y = f"targets[{py(out.name)}]"
    pre: list[str] = []
    ls = float(loss.get("label_smoothing", 0.0) or 0.0)
    if kind == "sparse_categorical_crossentropy":
        if len(out.shape) == 1:
            return pre, f'F.cross_entropy({z}, {y}.reshape(-1), reduction="none")'
        c = out.shape[-1]
        return pre, f'F.cross_entropy({z}.reshape(-1, {c}), {y}.reshape(-1), reduction="none").reshape({y}.shape)'
    if kind == "categorical_crossentropy":
        if ls:
            pre.append(f"y = {y} * {py(1.0 - ls)} + {py(ls / out.shape[-1])}  # label smoothing {ls}")
            y = "y"
        return pre, f"-({y} * F.log_softmax({z}, dim=-1)).sum(dim=-1)"
    pre.append(f"y = {y}.reshape({z}.shape)")
    if kind == "binary_crossentropy":
        if ls:
            pre.append(f"y = y * {py(1.0 - ls)} + {py(0.5 * ls)}  # label smoothing {ls}")
        return pre, f'F.binary_cross_entropy_with_logits({z}, y, reduction="none").mean(dim=-1)'
    pred = HEAD_EXPR[out.head].format(z=z)
    if kind == "mse":
        return pre, f"torch.square({pred} - y).mean(dim=-1)"
    if kind == "mae":
        return pre, f"torch.abs({pred} - y).mean(dim=-1)"
    if kind == "huber":
        d = float(loss["delta"])
        pre += [f"e = {pred} - y", "a = torch.abs(e)"]
        return pre, f"torch.where(a <= {py(d)}, 0.5 * torch.square(e), {py(d)} * a - {py(0.5 * d * d)}).mean(dim=-1)"
    raise EjectError(f"output {out.name!r}: no torch formula for loss {kind!r}")


def loss_function(ir: ModelIR, ctx: EjectContext, emitted: Mapping[str, TorchNode]) -> list[str]:
    ctx.need("weighted_mean")
    body: list[str] = []
    names = []
    for out in ir.outputs:
        if out.loss is None:
            continue
        pre, expr = _per_sample_loss(ir, out, ctx)
        var = ctx.var(f"{out.name}_loss")
        names.append((out, var))
        body.append(f"# {out.name}: {out.loss['type']} from the logits ({out.head} head)"
                    if out.head != "linear" else f"# {out.name}: {out.loss['type']}")
        body += pre
        body.append(f"{var} = weighted_mean({expr}, sample_weight)")
    terms = [var if out.loss_weight == 1.0 else f"{var} * {py(float(out.loss_weight))}" for out, var in names]
    body.append(f"total = {' + '.join(terms)}")
    penalties = []
    for key, node, param in ir.weight_specs():
        reg = param.regularizer
        if reg is None or not reg.active or not param.trainable:  # a frozen parameter's penalty is not in the loss
            continue
        # (a parameter torch holds as two tensors, a fused GRU's bias rows, is penalised in both)
        for attribute in [w.attribute for w in emitted[node.name].weights if w.param == param.name]:
            if reg.l1:
                penalties.append(f"{py(float(reg.l1))} * model.{attribute}.abs().sum()")
            if reg.l2:
                penalties.append(f"{py(float(reg.l2))} * model.{attribute}.square().sum()")
    if penalties:
        body.append("# L1/L2 penalties of the regularized parameters")
        body += [f"total = total + {p}" for p in penalties]
    entries = ['"loss": total'] + [f"{py(o.name + '_loss')}: {v}" for o, v in names] if len(names) > 1 else []
    ret = call("return ", entries, 1, open_="{", close="}") if entries else ['    return {"loss": total}']
    doc = ("The losses of a batch, from the logits, with dnnc's (= Keras's) formulas: each output's "
           "per-sample loss reduced as sum(sample_weight * loss) / N, then loss = sum of loss_weight * "
           "loss" + (" + the L1/L2 penalties" if penalties else "") + ". Returns {\"loss\": total"
           + (", \"<output>_loss\": …}" if len(names) > 1 else "}") + ".")
    return ["def compute_loss(model, outputs, targets, sample_weight=None):", *docstring(doc, 1),
            *statements(body, 1), *ret]


def _metric_expr(out: OutputIR, metric: Mapping[str, Any]) -> tuple[list[str], str]:
    """(statements, value) of one metric on logits ``z`` and targets ``y``: the statements end by
    assigning the batch's sum to ``value``; the count is ``count``."""
    kind = metric["type"]
    if kind == "sparse_categorical_accuracy":
        return ["value = (z.argmax(dim=-1) == y.reshape(-1)).sum().item()"], "len(z)"
    if kind == "categorical_accuracy":
        return ["value = (z.argmax(dim=-1) == y.argmax(dim=-1)).sum().item()"], "len(z)"
    if kind in ("binary_accuracy", "precision", "recall"):
        t = float(metric.get("threshold", 0.5))
        if out.head == "sigmoid":
            positive = [f"positive = z > {py(logit_threshold(t))}  # p > {t} on the logits, exactly"]
        else:
            positive = [f"positive = {HEAD_EXPR[out.head].format(z='z')} > {py(t)}"]
        pre = positive + ["truth = y.reshape(positive.shape) > 0.5"]
        if kind == "binary_accuracy":
            per_sample = "(positive == truth).float().reshape(len(z), -1).mean(dim=1)"
            return pre + [f"value = {per_sample}.sum().item()"], "len(z)"
        count = "positive.sum().item()" if kind == "precision" else "truth.sum().item()"
        return pre + ["value = (positive & truth).sum().item()"], count
    if kind == "top_k_accuracy":
        k = int(metric.get("k", 5))
        index = "y.reshape(-1)" if out.target == "sparse" else "y.argmax(dim=-1)"
        return [f"own = z.gather(-1, {index}[:, None])", f"value = ((z > own).sum(dim=-1) < {k}).sum().item()"], \
            "len(z)"
    if kind in ("mse", "rmse", "mae"):
        pred = HEAD_EXPR[out.head].format(z="z")
        target = f"F.one_hot(y.reshape(-1), {out.shape[-1]}).float()" if out.target == "sparse" else "y"
        value = "torch.abs(error)" if kind == "mae" else "torch.square(error)"
        return [f"error = {pred} - {target}.reshape(z.shape)",
                f"value = {value}.reshape(len(z), -1).mean(dim=1).sum().item()"], "len(z)"
    raise EjectError(f"no torch formula for metric {kind!r}")


def metrics_function(ir: ModelIR) -> tuple[list[str], list[str]]:
    """``metric_sums`` and the keys whose epoch value is a square root (rmse)."""
    body: list[str] = ["sums = {}"]
    roots: list[str] = []
    for out in ir.outputs:
        if not out.metrics:
            continue
        body.append(f"z, y = {_outputs_expr(ir, out, 'outputs')}, targets[{py(out.name)}]")
        for metric in out.metrics:
            key = metric_key(ir, out, metric)
            pre, count = _metric_expr(out, metric)
            body.append(f"# {key}: {metric['type']}")
            body += pre
            body.append(f"sums[{py(key)}] = (value, {count})")
            if metric["type"] == "rmse":
                roots.append(key)
    doc = ("Per-batch (sum, count) of each metric of the spec, on the logits; an epoch's value is "
           "sum of sums / sum of counts (how Keras and dnnc aggregate" + (", then the square root for rmse"
                                                                         if roots else "") + ").")
    return ["def metric_sums(outputs, targets):", *docstring(doc, 1), *statements(body, 1), "    return sums"], roots


# -- optimizer -----------------------------------------------------------------------------------------

def _value(v: Any) -> Any:
    return v if isinstance(v, bool) or v is None else float(v)


def optimizer_section(ir: ModelIR, ctx: EjectContext) -> list[str]:
    opt = ir.training.optimizer
    kind = opt["type"]
    if kind not in OPTIMIZER_CLASSES:
        raise EjectError(f"cannot eject optimizer {kind!r} (known: {', '.join(sorted(OPTIMIZER_CLASSES))})")
    ctx.need(f"opt:{kind}")
    cls = OPTIMIZER_CLASSES[kind]
    args = ["[p for p in model.parameters() if p.requires_grad]", "lr=learning_rate_at(0)",
            *kw(weight_decay=float(opt["weight_decay"]), clipnorm=_value(opt.get("clipnorm")),
                global_clipnorm=_value(opt.get("global_clipnorm")), clipvalue=_value(opt.get("clipvalue"))),
            *kw(**{k: _value(opt[k]) for k in OPTIMIZER_HYPERPARAMETERS[kind]})]
    factory = [
        "def build_optimizer(model):",
        *docstring(f"{kind} with every hyperparameter of the spec and Keras 3's update rule ({cls}).", 1),
        *call(f"return {cls}", args, 1),
    ]
    return learning_rate_function(opt["learning_rate"]) + ["", ""] + factory


# -- callbacks ---------------------------------------------------------------------------------------------

def callbacks_function(ir: ModelIR, ctx: EjectContext) -> list[str]:
    items: list[list[str]] = []
    notes: list[str] = []
    for cb in ir.training.callbacks:
        kind = cb["type"]
        mode = resolve_mode(cb["monitor"], cb["mode"], ir) if "monitor" in cb else None
        if kind == "early_stopping":
            ctx.need("EarlyStopping")
            args = kw(monitor=cb["monitor"], mode=mode, min_delta=float(cb["min_delta"]), patience=cb["patience"],
                      baseline=cb["baseline"], restore=cb["restore_best_weights"], start_from=cb["start_from_epoch"])
            items.append(call("EarlyStopping", args, 2))
        elif kind == "reduce_lr_on_plateau":
            ctx.need("ReduceLROnPlateau")
            args = kw(monitor=cb["monitor"], mode=mode, factor=float(cb["factor"]), patience=cb["patience"],
                      min_delta=float(cb["min_delta"]), cooldown=cb["cooldown"], min_lr=float(cb["min_lr"]))
            items.append(call("ReduceLROnPlateau", args, 2))
        elif kind == "model_checkpoint":
            ctx.need("ModelCheckpoint")
            args = kw(path=cb["path"], monitor=cb["monitor"], mode=mode, save_best_only=cb["save_best_only"])
            items.append(call("ModelCheckpoint", args, 2))
        elif kind == "csv_logger":
            ctx.need("CsvLogger")
            items.append(call("CsvLogger", kw(path=cb["path"], append=cb["append"]), 2))
        elif kind == "terminate_on_nan":
            ctx.need("TerminateOnNaN")
            items.append(["        TerminateOnNaN()"])
        elif kind == "tensorboard":
            ctx.need("TensorBoard")
            items.append(call("TensorBoard", kw(log_dir=cb["log_dir"]), 2))
        else:
            notes.append(f"{kind} (dnnc's own measurements, see `dnnc inspect`) has no counterpart here")
    lines = ["def build_callbacks():",
             *docstring("The spec's callbacks, each with on_epoch_end(epoch, logs, run) -> stop.", 1)]
    lines += [line for note in notes for line in comment("not ejected: " + note, 1)]
    if not items:
        return lines + ["    return []"]
    body = []
    for item in items:
        item[-1] += ","
        body += item
    return lines + ["    return [", *body, "    ]"]


# -- the training loop ----------------------------------------------------------------------------------

LOOP = '''
class Run:
    """What the callbacks see: the model, the global step and the learning-rate factor."""

    def __init__(self, model):
        self.model, self.step, self.lr_factor = model, 0, 1.0

    def learning_rate(self):
        return float(np.float32(learning_rate_at(self.step) * self.lr_factor))


def batch(split, index):
    """The rows `index` of a split as tensors: (inputs in INPUTS order, targets, weight)."""
    inputs = [torch.from_numpy(split["inputs"][name][index]) for name in INPUTS]
    targets = {k: torch.from_numpy(v[index]) for k, v in split["targets"].items()}
    weight = split["sample_weight"]
    return inputs, targets, None if weight is None else torch.from_numpy(weight[index])


def accumulate(sums, losses, metrics, n):
    """Add a batch: losses weighted by the batch size, the metrics' (sum, count)."""
    for key, value in losses.items():
        total, count = sums.get(key, (0.0, 0))
        sums[key] = (total + float(value) * n, count + n)
    for key, (value, count) in metrics.items():
        total, seen = sums.get(key, (0.0, 0))
        sums[key] = (total + value, seen + count)


def results(sums, prefix=""):
    out = {}
    for key, (total, count) in sums.items():
        value = total / count if count else 0.0
        out[prefix + key] = ROOT
    return out


def evaluate(model, split, prefix=""):
    """Losses and metrics in inference mode: rows in order, VALIDATION_BATCH_SIZE at a time."""
    model.eval()
    sums = {}
    with torch.no_grad():
        for start in range(0, rows(split), VALIDATION_BATCH_SIZE):
            index = np.arange(start, min(start + VALIDATION_BATCH_SIZE, rows(split)))
            inputs, targets, weight = batch(split, index)
            outputs = model(*inputs)
            losses = compute_loss(model, outputs, targets, weight)
            accumulate(sums, losses, metric_sums(outputs, targets), len(index))
    return results(sums, prefix)


def train(model, data, epochs=EPOCHS, max_steps=None):
    """dnnc's training loop: each epoch visits the training rows in the order of a Philox
    permutation keyed by (SEED, epoch), BATCH_SIZE rows at a time (the last partial batch
    kept); update k uses learning_rate_at(k) (times the factor reduce_lr_on_plateau
    changes); the validation rows are evaluated after each epoch, then the callbacks run.
    Returns the history: one dict of logs per epoch."""
    optimizer = build_optimizer(model)
    callbacks = build_callbacks()
    run = Run(model)
    history = []
    n = rows(data["train"])
    for epoch in range(epochs):
        model.train()
        sums = {}
        order = np.random.Generator(np.random.Philox(key=[SEED, epoch])).permutation(n)
        for start in range(0, n, BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            inputs, targets, weight = batch(data["train"], index)
            WEIGHT
            outputs = model(*inputs)
            losses = compute_loss(model, outputs, targets, weight)
            optimizer.zero_grad()
            losses["loss"].backward()
            for group in optimizer.param_groups:
                group["lr"] = run.learning_rate()
            optimizer.step()
            run.step += 1
            with torch.no_grad():
                accumulate(sums, losses, metric_sums(outputs, targets), len(index))
            if max_steps is not None and run.step >= max_steps:
                break
        logs = results(sums)
        if data["validation"] is not None:
            logs.update(evaluate(model, data["validation"], prefix="val_"))
        stop = False
        for callback in callbacks:
            stop = callback.on_epoch_end(epoch, logs, run) or stop
        history.append(logs)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items())
        print(f"epoch {epoch + 1}/{epochs}: {shown}")
        if stop or (max_steps is not None and run.step >= max_steps):
            break
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(run)
    return history
'''

CLASS_WEIGHT = '''
def class_weights(targets, weight):
    """training.class_weight as per-sample weights (classes not listed weigh 1.0)."""
    labels = targets[OUTPUT].reshape(len(targets[OUTPUT]), -1)
    labels = labels.argmax(dim=-1) if labels.shape[1] > 1 else labels[:, 0].long()
    table = torch.tensor([CLASS_WEIGHT.get(int(c), 1.0) for c in range(int(labels.max()) + 1)])
    return table[labels] if weight is None else weight * table[labels]
'''


def loop_section(ir: ModelIR, roots: list[str]) -> list[str]:
    text = LOOP
    root = "math.sqrt(value) if key in ROOT_METRICS else value" if roots else "value"
    text = text.replace("out[prefix + key] = ROOT", f"out[prefix + key] = {root}")
    cw = ir.training.class_weight
    if cw:
        text = text.replace("            WEIGHT\n", "            weight = class_weights(targets, weight)\n")
    else:
        text = text.replace("            WEIGHT\n", "")
    lines = dedent_source(text)
    if cw:
        extra = dedent_source(CLASS_WEIGHT.replace("OUTPUT", py(ir.outputs[0].name)))
        lines = extra + ["", ""] + lines
    return lines


def main_section(ir: ModelIR) -> list[str]:
    if ir.training is None:
        return [
            "def main():",
            "    model = build_model()",
            "    print(model)",
            "",
            "",
            'if __name__ == "__main__":',
            "    main()",
        ]
    return [
        "def main():",
        "    data = load_data()",
        "    model = build_model()",
        "    train(model, data)",
        '    if data["test"] is not None:',
        '        print("test:", evaluate(model, data["test"], prefix="test_"))',
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
    ]


# -- assembly ---------------------------------------------------------------------------------------------

def _snippet_lines(names: list[str], ctx: EjectContext) -> list[list[str]]:
    ordered: list[str] = []

    def add(name: str) -> None:
        for dep in REQUIRES.get(name, ()):
            add(dep)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        add(name)
    return [dedent_source(SNIPPETS[name]) for name in ordered]


def torch_module(ir: ModelIR, *, source: str, version: str, weights: str | None = None) -> str:
    """The source of the ejected PyTorch module for `ir` (compiled from the spec file `source`)."""
    ctx = EjectContext(ir, "torch")
    model_lines, emitted = model_class(ir, ctx)
    layer_snippets = list(ctx.snippets)
    sections: list[list[str]] = []
    training = ir.training is not None
    loss_lines = metric_lines = opt_lines = cb_lines = loop_lines = []
    roots: list[str] = []
    if training:
        loss_lines = loss_function(ir, ctx, emitted)
        metric_lines, roots = metrics_function(ir)
        ctx.snippets.clear()
        opt_lines = optimizer_section(ir, ctx)
        opt_snippets = list(ctx.snippets)
        ctx.snippets.clear()
        cb_lines = callbacks_function(ir, ctx)
        cb_snippets = list(ctx.snippets)
        loop_lines = loop_section(ir, roots)
    data_lines = data_section(ir, ctx)
    if training:
        layer_snippets.append("weighted_mean")
    constants = [
        "# the spec's folder (as named when ejecting): its relative data paths start there",
        f"SPEC_DIR = {py(_spec_dir(source))}",
        f"INPUTS = {py(tuple(ir.inputs))}",
    ]
    if training:
        t = ir.training
        constants += [f"SEED = {t.seed}", f"BATCH_SIZE = {t.batch_size}",
                      f"VALIDATION_BATCH_SIZE = {t.validation_batch_size}", f"EPOCHS = {t.epochs}"]
        if t.class_weight:
            table = {int(k): float(v) for k, v in t.class_weight.items()}
            constants.append(f"CLASS_WEIGHT = {py(table)}")
        if roots:
            constants.append(f"ROOT_METRICS = {py(set(roots))}")
    else:
        constants.append("SEED = 0")
    constants += ["# dnnc's canonical weights (a run's weights.npz) that build_model() loads, or None",
                  f"WEIGHTS = {py(weights)}"]
    sections += _snippet_lines(layer_snippets, ctx)
    sections.append(model_lines)
    sections.append([
        "def build_model(weights=WEIGHTS):",
        *docstring("The model: parameters drawn by the initializers above after torch.manual_seed(SEED) (the "
                   "same distributions as dnnc's, not the same draws), or dnnc's canonical weights when "
                   "`weights` names a weights.npz.", 1),
        "    torch.manual_seed(SEED)",
        "    model = Model()",
        "    if weights is not None:",
        "        load_canonical_weights(model, weights)",
        "    return model",
    ])
    sections.append(weights_function(ir, ctx, emitted))
    sections.append(predict_function(ir, ctx))
    if training:
        sections += [loss_lines, metric_lines]
        sections += _snippet_lines(opt_snippets, ctx)
        sections.append(opt_lines)
    if data_lines or training:
        sections.append(data_lines or _no_data())
    if training:
        sections += _snippet_lines(cb_snippets, ctx)
        sections += [cb_lines, loop_lines]
    sections.append(main_section(ir))
    return assemble(_header(ir, source, version, "torch"), constants, sections, "torch")


def assemble(header: list[str], constants: list[str], sections: list[list[str]], framework: str) -> str:
    """Docstring, imports (from what the code uses), constants and sections, as ruff format lays them out."""
    body = join_sections([constants, *sections])
    imports = imports_for("\n".join(body), framework)
    return "\n".join(header + [""] + imports + ["", ""] + body) + "\n"


def _spec_dir(source: str) -> str:
    from pathlib import PurePath

    parent = str(PurePath(source).parent)
    return parent or "."


def _no_data() -> list[str]:
    return [
        "def load_data(spec_dir=SPEC_DIR):",
        '    """Stub: the spec has no [data] table. Return {"train", "validation", "test"} splits."""',
        '    raise NotImplementedError("the spec has no [data] table")',
        "",
        "",
        "def rows(split):",
        '    return len(next(iter(split["inputs"].values())))',
    ]


def _header(ir: ModelIR, source: str, version: str, framework: str) -> list[str]:
    title = {"torch": "PyTorch", "keras": "Keras 3"}[framework]
    text = (f"{ir.name}, ejected by dnnc {version} from {source} as plain {title}.\n\n"
            "Every value dnnc resolved is written out: nothing below relies on a framework default. "
            "The semantics are dnnc's (= Keras's): batch norm normalises with the biased batch variance and "
            "keeps moving = momentum * moving + (1 - momentum) * batch; dropout is inverted dropout; the model "
            "emits logits, the output heads are applied by predict() and the losses are computed from the logits "
            "with Keras's reduction; the optimizer follows Keras 3's update rule.\n\n"
            "Run it: python <this file> (trains on the spec's data and evaluates the test rows). Only "
            f"{'torch' if framework == 'torch' else 'keras (with TensorFlow)'}, NumPy and the standard library "
            "are imported; dnnc is not needed.")
    return docstring(text, 0)


#: Module-level imports, each added when the generated code uses its name.
STD_IMPORTS = (
    (r"\bbisect\.", "import bisect"), (r"\bcopy\.", "import copy"), (r"\bcsv\.", "import csv"),
    (r"\bgzip\.", "import gzip"), (r"\bmath\.", "import math"), (r"\bos\.", "import os"),
    (r"\bPath\(", "from pathlib import Path"),
)


def imports_for(body: str, framework: str) -> list[str]:
    """The import block of a generated module whose code (without imports) is `body`."""
    std = [line for marker, line in STD_IMPORTS if re.search(marker, body)]
    std = sorted(std, key=lambda line: (line.startswith("from"), line))
    third = ["import numpy as np"]
    if framework == "torch":
        third.append("import torch")
        if re.search(r"\bF\.", body):
            third.append("import torch.nn.functional as F")
        third.append("from torch import nn")
    else:
        third.append("import keras")
        if re.search(r"\blayers\.", body):
            third.append("from keras import layers")
    return (std + [""] if std else []) + third
