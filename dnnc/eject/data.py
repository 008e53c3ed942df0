"""The data section of an ejected module (NumPy only, the same for both frameworks).

``load_raw(spec_dir)`` reads the spec's data set — real code for MNIST,
Fashion-MNIST, XOR, the Gaussian rows and ``.npz`` files, a stub naming what to
return for the others — and ``prepare(train, test)`` applies the spec's
preprocessing in dnnc's order (:mod:`dnnc.runner.datasets.prepare`): test split,
validation rows, float32 and ``divide_by``, reshape, standardisation fitted on
the training rows, targets.  A split is a dict ``{"inputs": {name: array},
"targets": {name: array}, "sample_weight": array or None}``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..compiler.ir import ModelIR
from ..runner.datasets.catalog import FILE_NAMES, STANDARD_DATASETS
from ..runner.datasets.rng import STREAM_GAUSSIAN, STREAM_VALIDATION, STREAM_XOR_NOISE
from .code import dedent_source, py, statement
from .context import EjectContext

READ_IDX = '''
def read_idx(path):
    """An IDX file (the MNIST format, gzipped or plain) as a NumPy array of uint8."""
    data = Path(path).read_bytes()
    if data[:2] == b"\\x1f\\x8b":
        data = gzip.decompress(data)
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
'''

NPZ_ARRAY = '''
def npz_array(archive, key, part):
    """Array `key` of an .npz archive; a key missing from the file reads key_train (training
    rows) and key_test (test rows), as dnnc does."""
    base = key.removesuffix("_train")
    if part == "train":
        return archive[key] if key in archive.files else archive[base + "_train"]
    return archive[base + "_test"] if base + "_test" in archive.files else None
'''


def _mapping(value: Any, names: tuple[str, ...], default: str) -> dict[str, str]:
    if value is None:
        value = default
    if isinstance(value, Mapping):
        return {n: value[n] for n in names}
    return {names[0]: value}


def _load_raw_standard(ds: Mapping[str, Any], ir: ModelIR, ctx: EjectContext) -> list[str]:
    dataset = STANDARD_DATASETS[ds["type"]]
    x, y = ir.inputs[0], ir.outputs[0].name
    names = {role: name.removesuffix(".gz") for role, name in FILE_NAMES.items()}
    own = f'Path(spec_dir) / {py(ds["path"])}' if ds.get("path") else None
    folders = ([own, f"{own} / {py(dataset.dir_name)}"] if own else []) + [
        f'Path(os.environ.get("DNNC_DATA_DIR", ".")) / {py(dataset.dir_name)}',
        f'Path.home() / ".cache" / "dnnc" / {py(dataset.dir_name)}',
        f'Path("/usr/share/datasets") / {py(dataset.dir_name)}',
    ]
    lines = [
        "def load_raw(spec_dir):",
        f'    """{dataset.title}: 60,000 training and 10,000 test images of 28x28 uint8 pixels, labels',
        "    0-9, read from the four IDX files (gzipped or not), looked up where dnnc looks",
        '    (without downloading)."""',
        "    folders = [",
        *[f"        {f}," for f in folders],
        "    ]",
        "    files = {",
        *[f'        {py(role)}: {py(name)},' for role, name in names.items()],
        "    }",
        "    for folder in folders:",
        "        names = files.values()",
        '        if all((folder / n).exists() or (folder / (n + ".gz")).exists() for n in names):',
        "            break",
        "    else:",
        f'        raise FileNotFoundError(f"the {dataset.title} IDX files are in none of {{folders}}")',
        "",
        "    def read(role):",
        "        path = folder / files[role]",
        '        return read_idx(path if path.exists() else path.with_name(path.name + ".gz"))',
        "",
        "    train = {",
        f'        "inputs": {{{py(x)}: read("train_images")}},',
        f'        "targets": {{{py(y)}: read("train_labels").astype(np.int64)}},',
        '        "sample_weight": None,',
        "    }",
        "    test = {",
        f'        "inputs": {{{py(x)}: read("test_images")}},',
        f'        "targets": {{{py(y)}: read("test_labels").astype(np.int64)}},',
        '        "sample_weight": None,',
        "    }",
        "    return train, test",
    ]
    return dedent_source(READ_IDX) + ["", ""] + lines


def _load_raw_xor(ds: Mapping[str, Any], ir: ModelIR, ctx: EjectContext) -> list[str]:
    seed = ir.training.seed if ir.training is not None else 0
    x, y = ir.inputs[0], ir.outputs[0].name
    lines = [
        "def load_raw(spec_dir):",
        f'    """XOR: training rows are the four points {ds["repeat"]} time(s)'
        + (f' plus N(0, {ds["noise"]}^2) noise' if ds["noise"] else "") + '; test rows the four points."""',
        "    points = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)",
        "    labels = np.array([[0], [1], [1], [0]], dtype=np.float32)",
        f"    x = np.tile(points, ({ds['repeat']}, 1))",
    ]
    if ds["noise"]:
        key = (STREAM_XOR_NOISE << 64) | seed
        lines += [
            f"    generator = np.random.Generator(np.random.Philox(key={key}))  # dnnc's XOR-noise stream",
            f"    x = x + generator.normal(0.0, {py(float(ds['noise']))}, size=x.shape).astype(np.float32)",
        ]
    lines += [
        "    train = {",
        f'        "inputs": {{{py(x)}: x.astype(np.float32)}},',
        f'        "targets": {{{py(y)}: np.tile(labels, ({ds["repeat"]}, 1))}},',
        '        "sample_weight": None,',
        "    }",
        "    test = {",
        f'        "inputs": {{{py(x)}: points}},',
        f'        "targets": {{{py(y)}: labels}},',
        '        "sample_weight": None,',
        "    }",
        "    return train, test",
    ]
    return lines


def _load_raw_gaussian(ds: Mapping[str, Any], ir: ModelIR, ctx: EjectContext) -> list[str]:
    x, y = ir.inputs[0], ir.outputs[0].name
    key = (STREAM_GAUSSIAN << 64) | int(ds["seed"])
    shape = ", ".join(str(int(d)) for d in ds["shape"])
    return [
        "def load_raw(spec_dir):",
        f'    """{ds["rows"]} rows of N(0, 1) features of shape {list(ds["shape"])} and labels uniform in'
        f' 0..{ds["classes"] - 1},',
        f'    drawn as dnnc draws them (data seed {ds["seed"]}); no test rows."""',
        f"    generator = np.random.Generator(np.random.Philox(key={key}))",
        f"    x = generator.standard_normal(({ds['rows']}, {shape}), dtype=np.float32)",
        f"    y = generator.integers(0, {ds['classes']}, size={ds['rows']}, dtype=np.int64)",
        "    train = {",
        f'        "inputs": {{{py(x)}: x}},',
        f'        "targets": {{{py(y)}: y}},',
        '        "sample_weight": None,',
        "    }",
        "    return train, None",
    ]


def _load_raw_npz(ds: Mapping[str, Any], ir: ModelIR, ctx: EjectContext) -> list[str]:
    data = ir.data or {}
    features = _mapping(data.get("features"), tuple(ir.inputs), "x")
    targets = _mapping(data.get("targets"), tuple(o.name for o in ir.outputs), "y")
    weight = data.get("sample_weight")

    def split(part: str, pad: str) -> list[str]:
        weight_value = f"npz_array(archive, {py(weight)}, {py(part)})" if weight else "None"
        return [
            f'{pad}    "inputs": {{',
            *[f"{pad}        {py(n)}: npz_array(archive, {py(k)}, {py(part)})," for n, k in features.items()],
            f"{pad}    }},",
            f'{pad}    "targets": {{',
            *[f"{pad}        {py(n)}: npz_array(archive, {py(k)}, {py(part)})," for n, k in targets.items()],
            f"{pad}    }},",
            f'{pad}    "sample_weight": {weight_value},',
            f"{pad}}}",
        ]

    first = next(iter(features.values()))
    lines = [
        "def load_raw(spec_dir):",
        f'    """The arrays of {ds["path"]} (relative to the spec\'s folder)."""',
        f"    path = Path(spec_dir) / {py(ds['path'])}",
        "    with np.load(path, allow_pickle=False) as archive:",
        "        train = {",
        *split("train", "        "),
        "        test = None",
        f'        if npz_array(archive, {py(first)}, "test") is not None:',
        "            test = {",
        *split("test", "            "),
        "    return train, test",
    ]
    return dedent_source(NPZ_ARRAY) + ["", ""] + lines


def _load_raw_stub(ds: Mapping[str, Any], ir: ModelIR, ctx: EjectContext) -> list[str]:
    x = ", ".join(repr(n) for n in ir.inputs)
    y = ", ".join(repr(o.name) for o in ir.outputs)
    return [
        "def load_raw(spec_dir):",
        f'    """Stub: the {ds["type"]} data set of the spec, which this module does not read itself.',
        "",
        "    Return (train, test): dicts {\"inputs\": {name: array}, \"targets\": {name: array},",
        '    "sample_weight": array or None} with the raw rows (test may be None); inputs',
        f"    {x}; targets {y}.",
        '    """',
        *statement(f'raise NotImplementedError("load the {ds["type"]} data here (see the docstring)")', 1),
    ]


RAW_LOADERS = {
    "mnist": _load_raw_standard,
    "fashion_mnist": _load_raw_standard,
    "xor": _load_raw_xor,
    "gaussian": _load_raw_gaussian,
    "npz": _load_raw_npz,
}
"""Dataset type → emitter of ``load_raw``; other types get a stub (:func:`_load_raw_stub`)."""


def _split_lines(data: Mapping[str, Any], ir: ModelIR) -> list[str]:
    seed = ir.training.seed if ir.training is not None else 0
    lines = []
    if data.get("test_split"):
        s = data["test_split"]
        lines += [
            f"    # test_split = {s}: the last n - floor(n * (1 - {s})) rows become the test rows",
            f"    cut = math.floor(rows(train) * (1.0 - {py(float(s))}))",
            "    train, test = take(train, slice(0, cut)), take(train, slice(cut, None))",
        ]
    if data.get("validation_split"):
        s = data["validation_split"]
        lines += [
            f"    # validation_split = {s}: the last n - floor(n * (1 - {s})) training rows, before any",
            "    # shuffling (Keras's rule)",
            f"    cut = math.floor(rows(train) * (1.0 - {py(float(s))}))",
            "    train, validation = take(train, slice(0, cut)), take(train, slice(cut, None))",
        ]
    elif data.get("validation"):
        v = data["validation"]
        if v.get("first") is not None:
            lines += [
                f"    # validation = {{ first = {v['first']} }}: the first {v['first']} training rows",
                f"    validation, train = take(train, slice(0, {v['first']})), take(train, slice({v['first']}, None))",
            ]
        elif v.get("last") is not None:
            lines += [
                f"    # validation = {{ last = {v['last']} }}: the last {v['last']} training rows",
                f"    validation, train = take(train, slice(-{v['last']}, None)), take(train, slice(0, -{v['last']}))",
            ]
        else:
            key = (STREAM_VALIDATION << 64) | (seed if v.get("seed") is None else int(v["seed"]))
            lines += [
                f"    # validation = {{ random = {v['random']} }}: n - floor(n * (1 - {v['random']})) rows chosen",
                "    # with dnnc's validation stream; both parts keep their order",
                "    n = rows(train)",
                f"    count = n - math.floor(n * (1.0 - {py(float(v['random']))}))",
                f"    generator = np.random.Generator(np.random.Philox(key={key}))",
                "    held = np.zeros(n, dtype=bool)",
                "    held[np.sort(generator.permutation(n)[:count])] = True",
                "    train, validation = take(train, ~held), take(train, held)",
            ]
    return lines


def _feature_lines(data: Mapping[str, Any], ir: ModelIR) -> list[str]:
    lines = []
    divide_by = data.get("divide_by")
    reshape = data.get("reshape")
    lines.append("    for split in splits:")
    lines.append("        for name, x in split[\"inputs\"].items():")
    if divide_by is not None:
        lines.append(f"            x = x.astype(np.float32) / np.float32({py(float(divide_by))})")
    else:
        lines.append("            x = x.astype(np.float32)")
    lines.append("            split[\"inputs\"][name] = x.reshape((len(x), *shapes[name]))")
    shapes = {}
    for name in ir.inputs:
        if isinstance(reshape, Mapping) and name in reshape:
            shapes[name] = tuple(reshape[name])
        elif reshape is not None and not isinstance(reshape, Mapping):
            shapes[name] = tuple(reshape)
        else:
            shapes[name] = tuple(ir.node(name).shape)
    head = [f"    # features: float32{', divided by ' + str(divide_by) if divide_by is not None else ''}, "
            "then reshaped to the model's input shapes"]
    table = "    shapes = {" + ", ".join(f"{py(n)}: {py(tuple(int(d) for d in s))}" for n, s in shapes.items()) + "}"
    if data.get("standardize"):
        lines += [
            "    # standardize: per-feature mean and std (ddof 0) of the training rows, std 0 -> 1",
            "    for name, x in train[\"inputs\"].items():",
            "        mean = x.mean(axis=0, dtype=np.float64)",
            "        std = np.sqrt(((x.astype(np.float64) - mean) ** 2).mean(axis=0))",
            "        std[std == 0] = 1.0",
            "        mean, std = mean.astype(np.float32), std.astype(np.float32)",
            "        for split in splits:",
            "            split[\"inputs\"][name] = (split[\"inputs\"][name] - mean) / std",
        ]
    return head + [table] + lines


def _target_lines(ir: ModelIR) -> list[str]:
    lines = ["    for split in splits:", '        targets = split["targets"]']
    for out in ir.outputs:
        t = py(out.name)
        if out.target == "sparse":
            lines.append(f"        # {out.name}: integer class labels, int64 of shape (n,)")
            lines.append(f"        targets[{t}] = targets[{t}].reshape(-1).astype(np.int64)")
        elif out.target == "one_hot":
            k = out.shape[-1]
            lines.append(f"        # {out.name}: one-hot rows of {k} classes, float32")
            lines.append(f"        labels = targets[{t}].reshape(-1).astype(np.int64)")
            lines.append(f"        targets[{t}] = np.eye({k}, dtype=np.float32)[labels]")
        else:
            what = "0/1 targets" if out.target == "binary" else "regression values"
            lines.append(f"        # {out.name}: {what}, float32 of shape (n, k)")
            lines.append(f"        y = targets[{t}].astype(np.float32)")
            lines.append(f"        targets[{t}] = y.reshape(len(y), -1)")
    lines += [
        '        weight = split["sample_weight"]',
        "        if weight is not None:",
        '            split["sample_weight"] = weight.reshape(-1).astype(np.float32)',
    ]
    return lines


HELPERS = '''
def rows(split):
    return len(next(iter(split["inputs"].values())))


def take(split, index):
    """The rows `index` of a split (a slice or a boolean mask)."""

    def pick(a):
        return None if a is None else a[index]

    return {
        "inputs": {k: pick(v) for k, v in split["inputs"].items()},
        "targets": {k: pick(v) for k, v in split["targets"].items()},
        "sample_weight": pick(split["sample_weight"]),
    }
'''


def data_section(ir: ModelIR, ctx: EjectContext) -> list[str]:
    """``load_raw``, ``prepare`` and ``load_data`` (empty when the IR has no [data] table)."""
    data = ir.data
    if data is None:
        return []
    ds = data["dataset"]
    raw = RAW_LOADERS.get(ds["type"], _load_raw_stub)(ds, ir, ctx)
    steps = _split_lines(data, ir)
    body = [
        "def prepare(train, test):",
        '    """The spec\'s preprocessing, in dnnc\'s order; returns {"train", "validation", "test"}."""',
        "    validation = None",
        *steps,
        "    splits = [s for s in (train, validation, test) if s is not None]",
        *_feature_lines(data, ir),
        *_target_lines(ir),
        '    return {"train": train, "validation": validation, "test": test}',
    ]
    loader = [
        "def load_data(spec_dir=SPEC_DIR):",
        '    """The training, validation and test splits of the spec\'s [data] table (None when absent)."""',
        "    return prepare(*load_raw(spec_dir))",
    ]
    return raw + ["", ""] + dedent_source(HELPERS) + ["", ""] + body + ["", ""] + loader
