"""Hook specifications: the whole plugin API of dnnc.

A plugin is a module or object with functions decorated by
``dnnc.plugins.hookimpl`` and named like the hooks below.  It is found through
the ``dnnc`` entry-point group::

    [project.entry-points.dnnc]
    numpy = "dnnc_numpy.plugin"

The built-in Keras and PyTorch backends register through exactly this path
(see dnnc's own ``pyproject.toml``).  Hooks are called with keyword arguments;
every implementation's results are collected (none is "first result only").
A plugin that fails to import or whose hook raises is reported by name, with
its error, by ``dnnc backends`` and does not stop the others.

Plugins are loaded in a fixed order (dnnc's vocabulary, dnnc's own entry
points, then the others by distribution and entry-point name), and a name two
plugins register is a conflict listed by ``dnnc backends``: a built-in name
stays built-in, and a name two third-party plugins register is usable by
neither (using it fails with a message naming both).  The rules are in
:mod:`dnnc.plugins.manager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend
    from .vocabulary import CallbackType, DatasetType, LayerType

hookspec = pluggy.HookspecMarker("dnnc")


# ---------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------

@hookspec
def dnnc_backends() -> "list[Backend]":
    """Register backends.

    Called once, when the plugin manager is first used (by ``dnnc backends``,
    ``build``, ``train``, ``conform`` or the Python API).

    :return: a list of objects implementing :class:`dnnc.backends.base.Backend`.
        Constructing them must be cheap and must not import the framework:
        import it lazily inside ``build`` / ``load``.  Each backend declares the
        IR ops it supports in ``supported_ops``; compiling an IR that uses any
        other op fails with an error naming the op and the backend.
    """


# ---------------------------------------------------------------------------
# Vocabulary of the spec
# ---------------------------------------------------------------------------

@hookspec
def dnnc_layer_types() -> "list[LayerType]":
    """Add layer types to ``model.layers``.

    Called once when the spec model is assembled (validation, ``dnnc schema``).

    :return: a list of :class:`dnnc.plugins.vocabulary.LayerType`, each a Pydantic
        model (deriving from ``dnnc.spec_schema.layers.LayerBase``, with a
        ``type: Literal["name"]`` field) and a lowering function producing the
        IR node.  The types join the discriminated union of layers, so
        validation, did-you-mean suggestions and the JSON Schema include them.
        A name another plugin also registers is a conflict (see the module docstring).
    """


@hookspec
def dnnc_dataset_types() -> "list[DatasetType]":
    """Add dataset types to ``data.dataset``.

    Called once when the spec model is assembled.

    :return: a list of :class:`dnnc.plugins.vocabulary.DatasetType` (a Pydantic
        model with a ``type`` literal, and a loader returning the raw arrays).
    """


@hookspec
def dnnc_callback_types() -> "list[CallbackType]":
    """Add callback types to ``training.callbacks``.

    Called once when the spec model is assembled.

    :return: a list of :class:`dnnc.plugins.vocabulary.CallbackType` (a Pydantic
        model with a ``type`` literal, and a factory building the runner
        callback from its IR table).
    """
