"""The marker plugins use to tag hook implementations."""

import pluggy

hookimpl = pluggy.HookimplMarker("dnnc")
