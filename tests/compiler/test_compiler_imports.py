"""Spec sources and their positions: locate depends on source, never the other way (no import cycle)."""

from __future__ import annotations

from support.import_graph import import_graph
from support.paths import ROOT


def test_locate_depends_on_source_and_source_not_on_locate():
    graph = import_graph(ROOT / "dnnc")
    assert "dnnc.compiler.source" in graph.imports("dnnc.compiler.locate")
    chain = graph.reaches("dnnc.compiler.source", "dnnc.compiler.locate")
    assert chain is None, " -> ".join(chain)
    cycles = [c for c in graph.cycles() if {"dnnc.compiler.locate", "dnnc.compiler.source"} & set(c)]
    assert not cycles, "\n".join(graph.describe(c) for c in cycles)
