"""Golden and property tests for spec loading and the position locator."""

from __future__ import annotations

import datetime
import json
import random
import tomllib
from pathlib import Path

import pytest

from dnnc.compiler.errors import SpecError, SpecIssue
from dnnc.compiler.locate import locate, locate_issues
from dnnc.compiler.locate import positions as positions_of
from dnnc.compiler.source import SpecSource, load_source, parse_text

# --------------------------------------------------------------------------
# Seeds, copied verbatim from docs/spec-draft.md
# --------------------------------------------------------------------------

SEED_004 = """\
spec_version = 1
name = "mnist-bn-dropout"

[data]
dataset = "mnist"
divide_by = 255        # x / 255 -> [0, 1]
validation_split = 0.2

[model]
input_shape = [784]    # or [28, 28] followed by a flatten layer

[[model.layers]]
type = "dense"
units = 256
[[model.layers]]
type = "batch_norm"
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dense"
units = 128
[[model.layers]]
type = "batch_norm"
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dropout"
rate = 0.3
[[model.layers]]
type = "dense"
units = 64
[[model.layers]]
type = "batch_norm"
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dense"
units = 10
activation = "softmax"

[training]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
optimizer = "adam"
batch_size = 64
epochs = 5
seed = 0
"""

SEED_003 = """\
spec_version = 1
name = "fashion-mlp"

[data]
dataset = "fashion_mnist"
divide_by = 255
validation = { first = 5000 }   # the seed holds out the first 5,000 training images

[model]
input_shape = [28, 28]
layers = [
  { type = "flatten" },
  { type = "dense", units = 300, activation = "relu" },
  { type = "dense", units = 100, activation = "relu" },
  { type = "dense", units = 10, activation = "softmax" },
]

[training]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
optimizer = { type = "sgd", learning_rate = 0.01 }
epochs = 30
batch_size = 32

[[training.callbacks]]
type = "model_checkpoint"
path = "best.ckpt"
save_best_only = true

[[training.callbacks]]
type = "early_stopping"
patience = 10
restore_best_weights = true
"""

SEED_000 = """\
[model]
input_shape = [784]
defaults = { kernel_init = { type = "random_normal", stddev = 1.0 }, bias_init = "zeros" }
layers = [
  { type = "dense", units = 64, activation = "tanh" },
  { type = "dense", units = 64, activation = "tanh", kernel_init = "glorot_normal" },
  { type = "dense", units = 10, activation = "softmax" },
]
"""

SEED_WIDE_DEEP = """\
[model]
inputs = [ { name = "wide", shape = [5] }, { name = "deep", shape = [6] } ]
layers = [
  { name = "h1", type = "dense", units = 30, activation = "relu", inputs = ["deep"] },
  { name = "h2", type = "dense", units = 30, activation = "relu" },
  { name = "concat", type = "concatenate", inputs = ["wide", "h2"] },
  { name = "main", type = "dense", units = 1 },
  { name = "aux", type = "dense", units = 1, inputs = ["h2"] },
]
outputs = ["main", "aux"]

[training]
loss = { main = "mse", aux = "mse" }
loss_weights = { main = 0.9, aux = 0.1 }
optimizer = "sgd"
"""

# Seed 003 in JSON, mixing one-line and multi-line objects.
JSON_SEED_003 = """\
{
  "spec_version": 1,
  "name": "fashion-mlp",
  "data": {
    "dataset": "fashion_mnist",
    "divide_by": 255,
    "validation": {"first": 5000}
  },
  "model": {
    "input_shape": [28, 28],
    "layers": [
      {"type": "flatten"},
      {"type": "dense", "units": 300, "activation": "relu"},
      {"type": "dense", "units": 100, "activation": "relu"},
      {"type": "dense", "units": 10, "activation": "softmax"}
    ]
  },
  "training": {
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "optimizer": {"type": "sgd", "learning_rate": 0.01},
    "epochs": 30,
    "batch_size": 32,
    "callbacks": [
      {
        "type": "model_checkpoint",
        "path": "best.ckpt",
        "save_best_only": true
      },
      {"type": "early_stopping", "patience": 10, "restore_best_weights": true}
    ]
  }
}
"""


def toml(text: str) -> SpecSource:
    return parse_text(text, "toml", display_name="spec.toml")


GOLDEN = {
    "seed_004": (
        SEED_004,
        "toml",
        [
            (("spec_version",), (1, 1)),
            (("name",), (2, 1)),
            (("data",), (4, 1)),
            (("data", "divide_by"), (6, 1)),
            (("model", "input_shape", 0), (10, 16)),
            (("model", "layers"), (12, 1)),
            (("model", "layers", 0), (12, 1)),
            (("model", "layers", 0, "units"), (14, 1)),
            (("model", "layers", 2), (17, 1)),
            (("model", "layers", 6, "rate"), (28, 1)),
            (("model", "layers", 10), (36, 1)),
            (("model", "layers", 10, "activation"), (39, 1)),
            (("training", "metrics", 0), (43, 12)),
            (("training", "epochs"), (46, 1)),
            # missing keys resolve to the nearest existing ancestor
            (("model", "layers", 1, "units"), (15, 1)),
            (("training", "optimizer", "learning_rate"), (44, 1)),
            (("training", "callbacks"), (41, 1)),
            (("nonexistent",), (1, 1)),
            ((), (1, 1)),
            # union tag names inside a pydantic loc are skipped
            (("model", "layers", 3, "dense", "units"), (21, 1)),
        ],
    ),
    "seed_003": (
        SEED_003,
        "toml",
        [
            (("data", "validation"), (7, 1)),
            (("data", "validation", "first"), (7, 16)),
            (("model", "input_shape", 1), (10, 20)),
            (("model", "layers"), (11, 1)),
            (("model", "layers", 0), (12, 3)),
            (("model", "layers", 0, "type"), (12, 5)),
            (("model", "layers", 1, "activation"), (13, 34)),
            (("model", "layers", 2, "units"), (14, 21)),
            (("model", "layers", 3, "activation"), (15, 33)),
            (("model", "layers", 0, "units"), (12, 3)),
            (("training",), (18, 1)),
            (("training", "optimizer", "learning_rate"), (21, 29)),
            (("training", "callbacks"), (25, 1)),
            (("training", "callbacks", 0), (25, 1)),
            (("training", "callbacks", 1), (30, 1)),
            (("training", "callbacks", 1, "patience"), (32, 1)),
            (("training", "callbacks", 0, "monitor"), (25, 1)),
            (("training", "callbacks", 5, "patience"), (25, 1)),
        ],
    ),
    "seed_000": (
        SEED_000,
        "toml",
        [
            (("model",), (1, 1)),
            (("model", "input_shape"), (2, 1)),
            (("model", "defaults"), (3, 1)),
            (("model", "defaults", "kernel_init"), (3, 14)),
            (("model", "defaults", "kernel_init", "type"), (3, 30)),
            (("model", "defaults", "kernel_init", "stddev"), (3, 54)),
            (("model", "defaults", "kernel_init", "mean"), (3, 14)),
            (("model", "defaults", "bias_init"), (3, 70)),
            (("model", "defaults", "bias_init", "type"), (3, 70)),
            (("model", "layers", 1), (6, 3)),
            (("model", "layers", 1, "kernel_init"), (6, 54)),
            (("model", "layers", 2, "activation"), (7, 33)),
        ],
    ),
    "wide_deep": (
        SEED_WIDE_DEEP,
        "toml",
        [
            (("model", "inputs"), (2, 1)),
            (("model", "inputs", 0), (2, 12)),
            (("model", "inputs", 0, "shape", 0), (2, 38)),
            (("model", "inputs", 1), (2, 44)),
            (("model", "inputs", 1, "shape"), (2, 61)),
            (("model", "layers", 0, "inputs"), (4, 67)),
            (("model", "layers", 0, "inputs", 0), (4, 77)),
            (("model", "layers", 4), (8, 3)),
            (("model", "layers", 4, "units"), (8, 35)),
            (("model", "outputs", 1), (10, 20)),
            (("training", "loss", "aux"), (13, 24)),
            (("training", "loss_weights", "main"), (14, 18)),
            (("training", "optimizer"), (15, 1)),
        ],
    ),
    "json_seed_003": (
        JSON_SEED_003,
        "json",
        [
            ((), (1, 1)),
            (("spec_version",), (2, 3)),
            (("data",), (4, 3)),
            (("data", "dataset"), (5, 5)),
            (("data", "validation"), (7, 5)),
            (("data", "validation", "first"), (7, 20)),
            (("model",), (9, 3)),
            (("model", "input_shape", 1), (10, 25)),
            (("model", "layers"), (11, 5)),
            (("model", "layers", 0), (12, 7)),
            (("model", "layers", 0, "type"), (12, 8)),
            (("model", "layers", 1, "units"), (13, 25)),
            (("model", "layers", 1, "activation"), (13, 39)),
            (("model", "layers", 2, "units"), (14, 25)),
            (("model", "layers", 3, "activation"), (15, 38)),
            (("model", "layers", 0, "units"), (12, 7)),
            (("training",), (18, 3)),
            (("training", "metrics", 0), (20, 17)),
            (("training", "optimizer", "learning_rate"), (21, 34)),
            (("training", "callbacks"), (24, 5)),
            (("training", "callbacks", 0), (25, 7)),
            (("training", "callbacks", 0, "type"), (26, 9)),
            (("training", "callbacks", 0, "save_best_only"), (28, 9)),
            (("training", "callbacks", 1), (30, 7)),
            (("training", "callbacks", 1, "patience"), (30, 34)),
            (("training", "callbacks", 1, "monitor"), (30, 7)),
            (("model", "layers", 2, "dense", "units"), (14, 25)),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_positions(name: str) -> None:
    text, fmt, cases = GOLDEN[name]
    source = parse_text(text, fmt)
    got = [(loc, locate(source, loc)) for loc, _ in cases]
    assert got == cases


def test_json_and_toml_seed_003_parse_to_the_same_data() -> None:
    assert parse_text(JSON_SEED_003, "json").data == parse_text(SEED_003, "toml").data


def test_pydantic_style_locs_with_tags_and_string_indices() -> None:
    source = toml(SEED_003)
    assert locate(source, ("model", "layers", 2, "function-after[check(), Dense]", "units")) == (14, 21)
    assert locate(source, ("model", "layers", "2", "units")) == (14, 21)
    assert locate(source, ("training", "optimizer", "sgd", "learning_rate")) == (21, 29)
    assert locate(source, ("model", "layers", 1, "Dense", "activation")) == (13, 34)
    assert locate(source, ("model", "input_shape", 1, "int")) == (10, 20)
    # a tag that is not the table's type is taken as a missing key
    assert locate(source, ("model", "layers", 2, "dropout", "units")) == (14, 3)
    shorthand = toml('[training]\noptimizer = "adam"\n')
    assert locate(shorthand, ("training", "optimizer", "adam", "learning_rate")) == (2, 1)


# --------------------------------------------------------------------------
# TOML constructs beyond the seeds
# --------------------------------------------------------------------------


def test_dotted_and_quoted_keys() -> None:
    source = toml(
        '[training]\n'
        'optimizer.type = "sgd"\n'
        'optimizer . "learning_rate" = 0.1\n'
        "'rate' = 0.5\n"
        '"a.b" = 1\n'
        '"clé ünï" = 2\n'
        '"esc\\"aped" = 3\n'
    )
    assert source.data["training"]["esc\"aped"] == 3
    assert locate(source, ("training", "optimizer")) == (2, 1)
    assert locate(source, ("training", "optimizer", "type")) == (2, 11)
    assert locate(source, ("training", "optimizer", "learning_rate")) == (3, 13)
    assert locate(source, ("training", "rate")) == (4, 1)
    assert locate(source, ("training", "a.b")) == (5, 1)
    assert locate(source, ("training", "a")) == (1, 1)  # no key "a": the table
    assert locate(source, ("training", "clé ünï")) == (6, 1)
    assert locate(source, ("training", "esc\"aped")) == (7, 1)


def test_nested_arrays_of_tables_count_per_parent() -> None:
    source = toml(
        "[[a]]\n"  # 1
        "[[a.b]]\n"  # 2
        "x = 1\n"  # 3
        "[[a.b]]\n"  # 4
        "x = 2\n"  # 5
        "[[a]]\n"  # 6
        "[[ a . b ]]\n"  # 7
        "x = 3\n"  # 8
        "[a.c]\n"  # 9
        "y = 4\n"  # 10
    )
    assert source.data == {"a": [{"b": [{"x": 1}, {"x": 2}]}, {"b": [{"x": 3}], "c": {"y": 4}}]}
    assert locate(source, ("a", 0, "b", 1, "x")) == (5, 1)
    assert locate(source, ("a", 1)) == (6, 1)
    assert locate(source, ("a", 1, "b", 0)) == (7, 1)
    assert locate(source, ("a", 1, "b", 0, "x")) == (8, 1)
    assert locate(source, ("a", 1, "c", "y")) == (10, 1)
    assert locate(source, ("a", 1, "c", "z")) == (9, 1)


def test_sub_table_of_an_array_of_tables_element() -> None:
    source = toml(
        "[[model.layers]]\n"
        'type = "dense"\n'
        "[[model.layers]]\n"
        'type = "dense"\n'
        "[model.layers.kernel_init]\n"
        'type = "he_normal"\n'
        "[model]\n"
        "input_shape = [4]\n"
    )
    assert locate(source, ("model",)) == (7, 1)  # the explicit header, not the implicit one
    assert locate(source, ("model", "input_shape")) == (8, 1)
    assert locate(source, ("model", "layers", 1, "kernel_init")) == (5, 1)
    assert locate(source, ("model", "layers", 1, "kernel_init", "type")) == (6, 1)
    # a missing key stops the walk: never fall through to a sibling's key
    assert locate(source, ("model", "layers", 0, "kernel_init", "type")) == (1, 1)


def test_strings_that_look_like_syntax_are_skipped() -> None:
    source = toml(
        'name = "ünïcödé 🎉 [x] # { = \\" ]"  # comment [y]\n'  # 1
        "description = \"\"\"\n"  # 2
        "[not_a_table]\n"  # 3
        'x = { not = "inline" } # "still the string"\n'  # 4
        'quote: "" and \\""""\n'  # 5
        "lit = '''\n"  # 6
        "[[also_not]] '' '''\n"  # 7
        "[model]\n"  # 8
        'layers = [ { name = "日本語", units = 3 } ]\n'  # 9
        "when = 1979-05-27 07:32:00  # a datetime with a space\n"  # 10
        "[training]\n"  # 11
        "epochs = 3\n"  # 12
    )
    assert "[not_a_table]" in source.data["description"]
    assert set(source.data) == {"name", "description", "lit", "model", "training"}
    assert locate(source, ("lit",)) == (6, 1)
    assert locate(source, ("model",)) == (8, 1)
    assert locate(source, ("model", "layers", 0)) == (9, 12)
    assert locate(source, ("model", "layers", 0, "units")) == (9, 28)
    assert locate(source, ("model", "when")) == (10, 1)
    assert locate(source, ("training", "epochs")) == (12, 1)
    assert locate(source, ("not_a_table",)) == (1, 1)


def test_multiline_arrays_with_comments_and_trailing_commas() -> None:
    source = toml(
        "[model]\n"
        "layers = [  # the network\n"
        "  # first a flatten\n"
        '  { type = "flatten" },\n'
        "\n"
        '  { type = "reshape", shape = [\n'  # 6: an inline table spanning lines through its array
        "      7,   # rows\n"
        "      4,\n"
        "    ] },\n"
        "]\n"
        "input_shape = [\n"
        "  28,\n"
        "  28,   # trailing comma below\n"
        "]\n"
    )
    assert source.data["model"]["layers"][1] == {"type": "reshape", "shape": [7, 4]}
    assert locate(source, ("model", "layers", 0)) == (4, 3)
    assert locate(source, ("model", "layers", 1)) == (6, 3)
    assert locate(source, ("model", "layers", 1, "shape")) == (6, 23)
    assert locate(source, ("model", "layers", 1, "shape", 1)) == (8, 7)
    assert locate(source, ("model", "input_shape", 1)) == (13, 3)


def test_crlf_line_endings() -> None:
    source = toml(SEED_003.replace("\n", "\r\n"))
    assert locate(source, ("model", "layers", 2, "units")) == (14, 21)
    assert locate(source, ("training", "callbacks", 1, "patience")) == (32, 1)


def test_json_duplicates_unicode_and_nesting() -> None:
    source = parse_text(
        '{"name": "日本語 \\" ] }", "a": {"b": [[1, {"c": {"d": null}}]]},\n'
        ' "name": "last wins"}',
        "json",
    )
    assert source.data["name"] == "last wins"
    assert locate(source, ("name",)) == (2, 2)
    assert locate(source, ("a", "b", 0, 1, "c", "d")) == (1, 47)
    assert locate(source, ("a", "b", 0, 1, "c", "e")) == (1, 41)


# --------------------------------------------------------------------------
# Syntax errors and I/O
# --------------------------------------------------------------------------


def only_issue(excinfo: pytest.ExceptionInfo[SpecError]) -> SpecIssue:
    (issue,) = excinfo.value.issues
    return issue


@pytest.mark.parametrize(
    "text, message, line, column",
    [
        ("[model]\nunits = \n[training]\n", "Invalid value", 2, 9),
        ('[model]\nlayers = [ { type = "dense" units = 3 } ]\n', "Unclosed inline table", 2, 29),
        ("a = 1\n[model\nb=2\n", "Expected ']' at the end of a table declaration", 2, 7),
        ("[data]\nx = 1\n[data]\n", "Cannot declare ('data',) twice", 3, 6),
        ('[model]\nname = "abc\n', "Illegal character '\\n'", 2, 12),
        ("[model]\nlayers = [1, 2\n\n", "Unclosed array", 2, 15),  # at end of document
    ],
)
def test_toml_syntax_errors(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(SpecError) as excinfo:
        toml(text)
    issue = only_issue(excinfo)
    assert (issue.kind, issue.message, issue.file, issue.line, issue.column) == (
        "syntax",
        message,
        "spec.toml",
        line,
        column,
    )
    assert issue.path == ()


@pytest.mark.parametrize(
    "text, message, line, column",
    [
        ('{\n  "a": 1,\n  "b": ,\n}', "Expecting value", 3, 8),
        ('{\n  "a": 1,\n  "b": 2,\n}', "Expecting property name enclosed in double quotes", 4, 1),
        ('{"model": {"units": 3}', "Expecting ',' delimiter", 1, 23),
        ('{"name": "日本語", "x" 1}', "Expecting ':' delimiter", 1, 21),
    ],
)
def test_json_syntax_errors(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(SpecError) as excinfo:
        parse_text(text, "json")
    issue = only_issue(excinfo)
    assert (issue.kind, issue.message, issue.file, issue.line, issue.column) == (
        "syntax",
        message,
        "<string>",
        line,
        column,
    )


def test_json_top_level_must_be_an_object() -> None:
    with pytest.raises(SpecError) as excinfo:
        parse_text('\n  [{"type": "dense"}]', "json")
    issue = only_issue(excinfo)
    assert (issue.kind, issue.line, issue.column) == ("syntax", 2, 3)
    assert issue.received == "a JSON array"
    assert "object" in issue.render()


def test_load_source_reads_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mlp.toml").write_text(SEED_003, encoding="utf-8")
    (tmp_path / "mlp.json").write_bytes(b"\xef\xbb\xbf" + JSON_SEED_003.encode())  # with a BOM
    monkeypatch.chdir(tmp_path)
    toml_source = load_source("mlp.toml")
    assert toml_source.display_name == "mlp.toml"
    assert toml_source.path == Path("mlp.toml")
    assert toml_source.format == "toml"
    json_source = load_source(tmp_path / "mlp.json")
    assert json_source.display_name == str(tmp_path / "mlp.json")
    assert json_source.format == "json"
    assert json_source.data == toml_source.data
    assert locate(json_source, ("spec_version",)) == (2, 3)


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("spec.yaml", b"a: 1", "'.toml', '.json'"),
        ("spec", b"a = 1", "'.toml', '.json'"),
        ("missing.toml", None, "not found"),
        ("latin1.toml", 'name = "caf\xe9"\n'.encode("latin-1"), "not valid UTF-8"),
    ],
)
def test_load_source_io_errors(tmp_path: Path, name: str, content: bytes | None, fragment: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SpecError) as excinfo:
        load_source(path)
    issue = only_issue(excinfo)
    assert issue.kind == "io"
    assert issue.path == ()
    assert issue.file == str(path)
    assert fragment in issue.render()


def test_load_source_directory(tmp_path: Path) -> None:
    (tmp_path / "d.toml").mkdir()
    with pytest.raises(SpecError) as excinfo:
        load_source(tmp_path / "d.toml")
    assert only_issue(excinfo).kind == "io"


def test_locate_issues_fills_positions() -> None:
    source = toml(SEED_003)
    issues = [
        SpecIssue(path=("model", "layers", 2, "units"), message="must be > 0", received=-3),
        SpecIssue(path=("training", "callbacks", 0, "monitor"), message="missing"),
        SpecIssue(path=(), message="already placed", file="other.toml", line=7, column=2),
    ]
    located = locate_issues(source, issues)
    assert [(i.file, i.line, i.column) for i in located] == [
        ("spec.toml", 14, 21),
        ("spec.toml", 25, 1),
        ("other.toml", 7, 2),
    ]
    assert located[0].render() == "spec.toml:14:21 model.layers[2].units: must be > 0 (received -3)"


def test_locate_scans_each_spec_once(monkeypatch) -> None:
    """50 lookups on a 200-line spec scan its text once (the position map is cached), not once per lookup."""
    from dnnc.compiler import locate as locate_module

    lines = ["spec_version = 1", "[model]", "input_shape = [784]", "layers = ["]
    lines += [f'  {{ type = "dense", units = {i + 1}, activation = "relu" }},' for i in range(90)]
    lines += ["]", "[training]"]
    for i in range(50):
        lines += ["[[training.callbacks]]", 'type = "early_stopping"', f"patience = {i}"]
    text = "\n".join(lines[:200]) + "\n"
    assert len(lines[:200]) == 200
    scans = []
    real_run = locate_module._TomlScanner.run
    monkeypatch.setattr(locate_module._TomlScanner, "run", lambda self: (scans.append(1), real_run(self))[1])
    locate_module._scan.cache_clear()
    source = toml(text)
    for i in range(25):
        assert locate(source, ("model", "layers", i * 3, "units")) == (5 + i * 3, 21)
        assert locate(source, ("training", "callbacks", i, "monitor")) is not None
    assert len(scans) == 1
    assert positions_of(source) is positions_of(source)


# --------------------------------------------------------------------------
# Property test: random documents written in every TOML style
# --------------------------------------------------------------------------

KEYS = ["type", "units", "a-b", "x_1", "3", "with space", "dot.ted", "ünï", 'q"uote', "it's", "日本"]
STRINGS = ["dense", "", "a # b", "[x] = {y}", 'say "hi"', "it's", "line\nbreak", "ünïcödé 🎉", "back\\slash"]


def random_value(rng: random.Random, depth: int) -> object:
    kind = rng.choice(["int", "float", "str", "bool", "date", "list", "dict", "dicts"] if depth < 3 else ["int", "str"])
    if kind == "int":
        return rng.randint(-5, 1000)
    if kind == "float":
        return rng.choice([0.5, -1e-05, 3.25])
    if kind == "str":
        return rng.choice(STRINGS)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "date":
        return datetime.datetime(1979, 5, 27, 7, 32)
    if kind == "list":
        return [random_value(rng, 3) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return random_table(rng, depth + 1)
    return [random_table(rng, depth + 1) for _ in range(rng.randint(1, 3))]


def random_table(rng: random.Random, depth: int) -> dict:
    return {k: random_value(rng, depth) for k in rng.sample(KEYS, rng.randint(0, 4))}


class TomlWriter:
    """Writes data as TOML, choosing a random style for every table and array."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def key(self, name: str) -> str:
        if name.replace("-", "").replace("_", "").isalnum() and name.isascii():
            return name if self.rng.random() < 0.8 else f'"{name}"'
        if "'" not in name and self.rng.random() < 0.5:
            return f"'{name}'"
        return json.dumps(name, ensure_ascii=False)

    def scalar(self, value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime.datetime):
            return f"{value:%Y-%m-%d %H:%M:%S}"
        if isinstance(value, str):
            if self.rng.random() < 0.3:
                return '"""\n' + value.replace("\\", "\\\\").replace('"', '\\"') + '"""'
            return json.dumps(value, ensure_ascii=False)
        return repr(value)

    def gap(self) -> str:
        return self.rng.choice([" ", "", "  ", "\n  ", " # c [z] {\n "])

    def inline(self, value: object) -> str:
        if isinstance(value, dict):
            if not value:
                return "{}"
            items = ", ".join(f"{self.key(k)} = {self.inline(v)}" for k, v in value.items())
            return "{ " + items + " }"
        if isinstance(value, list):
            parts = [self.gap() + self.inline(v) for v in value]
            trailing = "," if parts and self.rng.random() < 0.5 else ""
            return "[" + ",".join(parts) + trailing + self.gap() + "]"
        return self.scalar(value)

    def body(self, header: list[str], table: dict, out: list[str]) -> None:
        later: list[tuple[str, str, object]] = []
        for k, v in table.items():
            style = self.rng.random()
            if isinstance(v, dict) and v and style < 0.3:
                self.dotted([self.key(k)], v, out)
            elif isinstance(v, dict) and style < 0.7:
                later.append(("table", k, v))
            elif isinstance(v, list) and v and all(isinstance(e, dict) for e in v) and style < 0.6:
                later.append(("array", k, v))
            else:
                out.append(f"{self.key(k)} = {self.inline(v)}" + self.rng.choice(["", "  # note = 1"]))
        for kind, k, v in later:
            path = header + [self.key(k)]
            name = self.rng.choice([" . ", "."]).join(path)
            if kind == "table":
                out.append(f"[{name}]")
                self.body(path, v, out)  # type: ignore[arg-type]
            else:
                for element in v:  # type: ignore[union-attr]
                    out.append(f"[[{name}]]")
                    self.body(path, element, out)
            out.append("")

    def dotted(self, prefix: list[str], table: dict, out: list[str]) -> None:
        for k, v in table.items():
            if isinstance(v, dict) and v and self.rng.random() < 0.5:
                self.dotted(prefix + [self.key(k)], v, out)
            else:
                out.append(".".join(prefix + [self.key(k)]) + f" = {self.inline(v)}")


def all_paths(value: object, prefix: tuple = ()) -> set[tuple]:
    paths = {prefix}
    if isinstance(value, dict):
        for k, v in value.items():
            paths |= all_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths |= all_paths(v, prefix + (i,))
    return paths


def offset_of(text: str, line: int, column: int) -> int:
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    return starts[line - 1] + column - 1


def check_key_at(text: str, offset: int, name: str) -> None:
    """The text at a key's position is '[' (a header) or the key, bare or quoted."""
    if text[offset] == "[":
        return
    if text[offset] == "'":
        assert text[offset + 1 : text.index("'", offset + 1)] == name
    elif text[offset] == '"':
        assert json.JSONDecoder().raw_decode(text, offset)[0] == name
    else:
        assert text.startswith(name, offset)


@pytest.mark.parametrize("seed", range(8))
def test_random_toml_documents(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        data = random_table(rng, 0)
        out: list[str] = []
        TomlWriter(rng).body([], data, out)
        text = "\n".join(out) + "\n"
        assert tomllib.loads(text) == data, text
        source = toml(text)
        positions = positions_of(source)
        assert set(positions) == all_paths(data), text
        for path, (line, column) in positions.items():
            if path and isinstance(path[-1], str):
                check_key_at(text, offset_of(text, line, column), path[-1])


@pytest.mark.parametrize("seed", range(4))
def test_random_json_documents(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(25):
        data = json.loads(json.dumps(random_table(rng, 0), default=str))
        text = json.dumps(data, indent=rng.choice([None, 1, "\t"]), ensure_ascii=rng.random() < 0.5)
        source = parse_text(text, "json")
        positions = positions_of(source)
        assert set(positions) == all_paths(data), text
        for path, (line, column) in positions.items():
            offset = offset_of(text, line, column)
            if path and isinstance(path[-1], str):
                end = text.index('":', offset) + 1
                assert json.loads(text[offset:end]) == path[-1]
            elif path:
                decoder = json.JSONDecoder()
                element, _ = decoder.raw_decode(text, offset)
                parent = data
                for part in path:
                    parent = parent[part]
                assert element == parent
