"""The runner's layering, read from the source: one-way imports, no import cycle through the runner, no CLI.

Imports count wherever they are: top level, inside functions, under ``TYPE_CHECKING``
(see tests/support/import_graph.py).
"""

from __future__ import annotations

import textwrap

import pytest

from support.import_graph import import_graph
from support.paths import ROOT


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT / "dnnc")


def runner_modules(graph, under="dnnc.runner"):
    return sorted(m for m in graph.modules if m == under or m.startswith(under + "."))


def test_no_import_cycle_runs_through_the_runner(graph):
    cycles = [c for c in graph.cycles() if any(m.startswith("dnnc.runner") for m in c)]
    assert not cycles, "import cycles:\n" + "\n".join(graph.describe(c) for c in cycles)


def test_the_runner_never_reaches_the_cli(graph):
    for module in runner_modules(graph):
        chain = graph.reaches(module, "dnnc.cli")
        assert chain is None, " -> ".join(chain)


def test_callbacks_and_progress_depend_on_the_context_not_on_the_loop(graph):
    below_the_loop = ["dnnc.runner.context", "dnnc.runner.progress", *runner_modules(graph, "dnnc.runner.callbacks")]
    assert len(below_the_loop) > 10
    for module in below_the_loop:
        chain = graph.reaches(module, "dnnc.runner.loop")
        assert chain is None, " -> ".join(chain)
    assert "dnnc.runner.context" in graph.imports("dnnc.runner.callbacks.base")
    assert "dnnc.runner.context" in graph.imports("dnnc.runner.progress")
    for module in ("dnnc.runner.callbacks", "dnnc.runner.progress"):
        assert graph.reaches("dnnc.runner.context", module) is None


def test_the_loop_knows_no_particular_callback(graph):
    callbacks = {m for m in graph.imports("dnnc.runner.loop") if m.startswith("dnnc.runner.callbacks")}
    assert callbacks == {"dnnc.runner.callbacks.base"}


def test_the_graph_counts_lazy_and_type_checking_imports(tmp_path):
    """The checks above can fail: a cycle made only of a lazy import and a TYPE_CHECKING import is found."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(textwrap.dedent("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from .sub.b import B
        class A: ...
    """))
    (pkg / "sub" / "b.py").write_text(textwrap.dedent("""
        def make():
            from .. import a
            return a.A()
    """))
    (pkg / "c.py").write_text("import pkg.sub.b\nfrom pkg.sub import b as again\n")
    g = import_graph(pkg)
    assert g.imports("pkg.a") == {"pkg.sub.b"}
    assert g.imports("pkg.sub.b") == {"pkg.a"}
    assert g.imports("pkg.c") == {"pkg.sub.b"}
    assert g.imports("pkg") == {"pkg.a"}
    assert g.cycles() == [["pkg.a", "pkg.sub.b"]]
    assert "pkg.a (a.py:4) -> pkg.sub.b" in g.describe(["pkg.a", "pkg.sub.b"])
    assert g.reaches("pkg.c", "pkg.a") == ["pkg.c", "pkg.sub.b", "pkg.a"]
