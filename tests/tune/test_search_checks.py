"""The `[search]` table: its schema, and every check `dnnc tune` makes before the first trial (exit 2, located)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import dnnc
from dnnc.cli.app import app
from dnnc.compiler.errors import SpecError, format_path
from dnnc.compiler.source import load_source
from dnnc.tune.check import check_search
from support.tune_specs import SEARCH, SPACE, write_search_spec

runner = CliRunner()


def _issues(path, **kw):
    with pytest.raises(SpecError) as info:
        check_search(load_source(path), **kw)
    return list(info.value.issues)


def _line_of(path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_a_spec_with_a_search_table_validates_and_compiles_as_written(tmp_path):
    spec = write_search_spec(tmp_path)
    ir = dnnc.compile_spec(spec)
    assert [n.name for n in ir.nodes] == ["input", "dense", "dense_1"] and ir.nodes[1].attrs.units == 8
    plan = check_search(load_source(spec))
    assert [p.key for p in plan.params] == ["model.layers[0].times", "model.layers[0].layers[0].units",
                                            "training.optimizer.learning_rate"]
    assert plan.history_keys == ["loss", "val_loss"]
    assert [p.probes() for p in plan.params][0] == [("low = 0", 0), ("high = 2", 2)]


@pytest.mark.parametrize("param, message", [
    ('{ type = "int", low = 5, high = 2 }', "low must be ≤ high (received low = 5, high = 2)"),
    ('{ type = "float", low = 0.0, high = 1.0, log = true }', "log = true needs low > 0 (received low = 0.0)"),
    ('{ type = "int", low = 1, high = 9, step = 2, log = true }', "log = true cannot be combined with step"),
    ('{ type = "categorical", choices = ["sgd", "sgd"] }', "choices must all be different (received 'sgd' twice)"),
    ('{ type = "uniform", low = 1, high = 2 }', "unknown type 'uniform'"),
])
def test_parameter_tables_are_validated_and_located(tmp_path, param, message):
    spec = write_search_spec(tmp_path, space=f'"training.epochs" = {param}')
    with pytest.raises(SpecError) as info:
        dnnc.compile_spec(spec)
    [issue] = info.value.issues
    assert format_path(issue.path).startswith('search.space."training.epochs"')
    assert message in issue.message
    assert issue.line == _line_of(spec, '"training.epochs"')


def test_an_unknown_path_is_an_error_at_its_key(tmp_path):
    spec = write_search_spec(tmp_path, space=SPACE + '\n"model.layers[0].unitz" = { type = "int", low = 1, high = 4 }')
    [issue] = _issues(spec)
    assert issue.render() == (
        f'{spec}:{_line_of(spec, "unitz")}:1 search.space."model.layers[0].unitz": with low = 1 and high = 4 '
        "the spec is invalid: model.layers[0].unitz: unknown key 'unitz' (allowed 'layers', 'times', 'type')")


def test_an_index_past_the_end_is_an_error_at_its_key(tmp_path):
    spec = write_search_spec(tmp_path, space='"model.layers[5].units" = { type = "int", low = 1, high = 4 }')
    [issue] = _issues(spec)
    assert issue.path == ("search", "space", "model.layers[5].units")
    assert "index [5] is out of range: model.layers has 2 element(s)" in issue.message


def test_each_end_of_a_range_is_checked(tmp_path):
    spec = write_search_spec(tmp_path, space='"model.layers[0].layers[0].units" = { type = "int", low = 0, high = 9, step = 4 }')
    [issue] = _issues(spec)
    assert issue.message == ("with low = 0 the spec is invalid: model.layers[0].layers[0].units: must be > 0 "
                             "(received 0)")
    spec = write_search_spec(tmp_path, space='"data.validation_split" = { type = "float", low = 0.1, high = 1.0 }')
    [issue] = _issues(spec)
    assert issue.message.startswith("with high = 1.0 the spec is invalid: data.validation_split: must be < 1")


def test_the_top_of_a_stepped_range_is_the_last_reachable_value(tmp_path):
    spec = write_search_spec(tmp_path, space='"model.layers[0].times" = { type = "int", low = 1, high = 9, step = 4 }')
    [param] = check_search(load_source(spec)).params
    assert param.high == 9 and param.grid() == [1, 5, 9]
    spec = write_search_spec(tmp_path, space='"model.layers[0].times" = { type = "int", low = 1, high = 8, step = 4 }')
    [param] = check_search(load_source(spec)).params
    assert param.probes() == [("low = 1", 1), ("high = 5 (the last step ≤ 8)", 5)]


def test_every_choice_of_a_categorical_is_checked(tmp_path):
    spec = write_search_spec(tmp_path, space='"training.optimizer" = { type = "categorical", choices = '
                                             '["adam", { type = "sgd", momentum = 0.9 }, { type = "sgd", moment = 1 }] }')
    [issue] = _issues(spec)
    assert issue.message.startswith('with choice { type = "sgd", moment = 1 } the spec is invalid: '
                                    "training.optimizer.moment: unknown key 'moment'")


def test_the_metric_must_be_a_key_of_the_history(tmp_path):
    spec = write_search_spec(tmp_path, search=SEARCH.replace('"val_loss"', '"val_los"'))
    [issue] = _issues(spec)
    assert issue.path == ("search", "metric") and issue.line == _line_of(spec, "val_los")
    assert issue.message == "metric 'val_los' is not a per-epoch key of the history"
    assert issue.hint == "did you mean 'val_loss'?" and issue.allowed == "'loss', 'val_loss'"


def test_a_larger_is_better_metric_needs_the_direction_written(tmp_path):
    spec = write_search_spec(tmp_path)
    text = spec.read_text().replace('loss = "mse"', 'loss = "mse"\nmetrics = ["mae"]')
    spec.write_text(text.replace('metric = "val_loss"', 'metric = "val_mae"'))
    assert check_search(load_source(spec)).metric == "val_mae"
    source = load_source(spec)
    data = dict(source.data)
    data["training"] = dict(data["training"], loss="binary_crossentropy", metrics=["accuracy"])
    data["model"] = dict(data["model"], layers=[*data["model"]["layers"][:-1], {"type": "dense", "units": 1,
                                                                              "activation": "sigmoid"}])
    data["search"] = dict(data["search"], metric="val_accuracy")
    from dataclasses import replace

    with pytest.raises(SpecError) as info:
        check_search(replace(source, data=data, text=""))
    assert info.value.issues[0].hint == 'set direction = "maximize" (or "minimize" to mean it)'


def test_the_grid_sampler_refuses_a_continuous_float(tmp_path):
    spec = write_search_spec(tmp_path)
    [issue] = _issues(spec, sampler="grid")
    assert issue.path == ("search", "space", "training.optimizer.learning_rate", "type")
    assert "the grid sampler needs finitely many values" in issue.message


def test_a_spec_without_a_search_table(tmp_path):
    spec = write_search_spec(tmp_path)
    spec.write_text(spec.read_text().split("[search]")[0])
    [issue] = _issues(spec)
    assert issue.message == "the spec has no [search] table: nothing to tune"


def test_dnnc_tune_reports_search_errors_with_exit_2_before_any_trial(tmp_path):
    spec = write_search_spec(tmp_path, space='"model.layers[0].layers[0].units" = { type = "int", low = 0, high = 4 }')
    result = runner.invoke(app, ["tune", str(spec), "--backend", "numpy", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "must be > 0 (received 0)" in result.output
    assert not (tmp_path / "out").exists()


def test_validating_a_search_spec_imports_neither_optuna_nor_a_framework(tmp_path):
    import subprocess
    import sys

    spec = write_search_spec(tmp_path)
    code = ("import sys; from typer.testing import CliRunner; from dnnc.cli.app import app; "
            f"r = CliRunner().invoke(app, ['validate', {str(spec)!r}]); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('optuna', 'torch', 'tensorflow', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


CONTRACT_SEARCH = """
[search]
trials = 20
sampler = "random"        # random | tpe | grid
metric = "val_loss"       # any per-epoch key of the history
direction = "minimize"    # or "maximize"
pruner = "median"         # median | hyperband | none
seed = 0

[search.space]
"model.layers[0].times"            = { type = "int", low = 0, high = 3 }
"model.layers[0].layers[0].units"  = { type = "int", low = 1, high = 100 }
"training.optimizer.learning_rate" = { type = "float", low = 3e-4, high = 3e-2, log = true }
"training.optimizer.type"          = { type = "categorical", choices = ["sgd", "adam"] }
"""


def test_the_contract_search_table_validates_and_means_what_it_says(tmp_path):
    spec = write_search_spec(tmp_path)
    text = spec.read_text()
    spec.write_text(text[: text.index("[search]")] + CONTRACT_SEARCH)
    plan = check_search(load_source(spec))
    s = plan.search
    assert (s.trials, s.sampler, s.metric, s.direction, s.pruner, s.seed) == (20, "random", "val_loss", "minimize",
                                                                              "median", 0)
    kinds = {p.key: (p.kind, p.probes()) for p in plan.params}
    assert kinds["model.layers[0].times"] == ("int", [("low = 0", 0), ("high = 3", 3)])
    assert kinds["training.optimizer.type"] == ("categorical", [('choice "sgd"', "sgd"), ('choice "adam"', "adam")])
    assert plan.params[2].spec.log is True
