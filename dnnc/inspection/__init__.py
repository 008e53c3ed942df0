"""`dnnc inspect` and the histograms callback: per-layer activations, gradients and weights.

* :mod:`.layers` — which IR nodes are shown (and their titles "1-layer", "2-layer", …);
* :mod:`.collect` — one backend's arrays for some rows (``CompiledModel.probe``);
* :mod:`.stats` — the per-layer statistics and the saturation / dead-unit rules;
* :mod:`.agreement` — whether two backends agree (the backend-against-backend measures,
  :mod:`dnnc.conformance.pairwise`);
* :mod:`.plots` — the histogram grids (matplotlib, Agg);
* :mod:`.report` — ``stats.json`` and the rich table;
* :mod:`.run` — the command: a spec or a run directory, weights, rows, backends, outputs.

This package imports no framework; the backends do when they build a model.
"""
