"""Search values as `--set` overrides: TOML text that reads back to the same value; categorical labels; grids."""

from __future__ import annotations

import math
import tomllib

import pytest

from dnnc.compiler.errors import format_path
from dnnc.runner.overrides import parse_override
from dnnc.spec_schema.search import CategoricalParam, FloatParam, IntParam
from dnnc.tune.space import Param, overrides, spec_values
from dnnc.tune.toml_values import toml_value


@pytest.mark.parametrize("value", [0, -3, 2**62, 1e-5, 0.1, 3.0, 1e16, -0.0, 0.025377379584148114, math.inf, True,
                                   "adam", 'a"b\\c\n\x7f\x01é', [1, "x", [2.5]], {"type": "sgd", "a b": {"c": []}}])
def test_toml_text_reads_back_to_the_same_value(value):
    assert tomllib.loads("v = " + toml_value(value))["v"] == value
    assert parse_override("k=" + toml_value(value))[1] == value


def test_nan_is_written_as_toml_nan():
    assert math.isnan(tomllib.loads("v = " + toml_value(math.nan))["v"])


def test_overrides_follow_the_order_of_the_space():
    params = [Param("model.layers[0].times", ("model", "layers", 0, "times"), IntParam(type="int", low=0, high=3)),
              Param("training.optimizer", ("training", "optimizer"),
                    CategoricalParam(type="categorical", choices=["sgd", {"type": "adam", "epsilon": 1e-8}]))]
    assert params[1].labels() == ["sgd", '{ type = "adam", epsilon = 1e-08 }']
    assert params[1].to_spec_value('{ type = "adam", epsilon = 1e-08 }') == {"type": "adam", "epsilon": 1e-8}
    values = {"training.optimizer": {"type": "adam", "epsilon": 1e-8}, "model.layers[0].times": 2}
    assert overrides(params, values) == ["model.layers[0].times=2",
                                         'training.optimizer={ type = "adam", epsilon = 1e-08 }']
    assert spec_values(params, {"training.optimizer": "sgd", "model.layers[0].times": 1, "other": 3}) == {
        "model.layers[0].times": 1, "training.optimizer": "sgd"}


def test_grids_of_stepped_parameters():
    stepped = Param("x", ("x",), FloatParam(type="float", low=0.1, high=0.55, step=0.1))
    assert stepped.high == 0.5 and stepped.grid() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert Param("n", ("n",), IntParam(type="int", low=2, high=9, step=3)).grid() == [2, 5, 8]
    assert not Param("lr", ("lr",), FloatParam(type="float", low=1e-4, high=1e-1, log=True)).has_grid


def test_paths_with_dots_are_quoted_when_shown():
    assert format_path(("search", "space", "model.layers[0].times")) == 'search.space."model.layers[0].times"'
    assert format_path(("model", "layers", 2, "units")) == "model.layers[2].units"
