"""Importing TensorFlow/Keras for dnnc: backend selection, quiet start-up, determinism.

Nothing here imports TensorFlow at module import time; :func:`import_keras`
does, once, after setting the process environment:

* ``KERAS_BACKEND=tensorflow`` (this backend is Keras 3 on TensorFlow; set
  only when Keras is not imported yet, otherwise the running Keras must
  already use TensorFlow);
* ``TF_CPP_MIN_LOG_LEVEL=1`` unless set: hides TensorFlow's C++ INFO lines
  (CPU-feature notices) but keeps its warnings and errors;
* TensorFlow's oneDNN kernels are left as TensorFlow sets them (on, on x86
  Linux): they are TensorFlow's default, what a hand-written Keras program runs,
  and much faster for convolutions (docs/performance.md).  Their notice
  ("oneDNN custom operations are on…"), which TensorFlow writes to the
  process's stderr before its logging starts, whatever ``TF_CPP_MIN_LOG_LEVEL``
  says, is dropped from the import's output (:func:`_import_quietly`); every
  other line of it is passed on.  ``TF_ENABLE_ONEDNN_OPTS=0`` turns them off
  (TensorFlow's Eigen kernels; the backend's default until 2026-12-02); either
  way two runs of one spec and seed on one machine give the same numbers.

These settings only take effect if TensorFlow was not imported before dnnc
builds its first Keras model.

Step functions are traced ``tf.function`` steps without XLA by default (XLA
compiles once per distinct batch size; why it is off: docs/performance.md).
``[training] compile = true`` turns XLA on (``jit_compile=True``, never under
op determinism, i.e. strict parity, as in Keras); ``DNNC_KERAS_JIT_COMPILE=1``
or ``0`` overrides the spec either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

from ..base import BackendError

QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "1"}

#: TensorFlow's start-up notice that its oneDNN kernels are on, and the absl line that precedes its first
#: pre-logging message; both written straight to file descriptor 2 while TensorFlow loads.
_STARTUP_NOISE = re.compile(r"oneDNN custom operations are on|^WARNING: All log messages before "
                            r"absl::InitializeLog\(\) is called are written to STDERR$")

JIT_ENVIRONMENT_VARIABLE = "DNNC_KERAS_JIT_COMPILE"

_determinism_enabled = False


def import_keras() -> ModuleType:
    """Import and return ``keras`` running on TensorFlow (raises BackendError otherwise)."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        if "tensorflow" not in sys.modules:
            for key, value in QUIET_ENVIRONMENT.items():
                os.environ.setdefault(key, value)
    try:
        keras = _import_quietly()
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BackendError(f"the keras backend needs keras 3 and tensorflow: {exc}") from exc
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise BackendError(
            f"keras was already imported with the {backend!r} backend; dnnc's keras backend needs 'tensorflow' "
            "(set KERAS_BACKEND=tensorflow, or import dnnc's keras backend before keras)"
        )
    if not keras.__version__.startswith("3."):  # pragma: no cover - depends on the installation
        raise BackendError(f"dnnc's keras backend needs keras 3, found keras {keras.__version__}")
    return keras


@contextlib.contextmanager
def _without_startup_noise() -> Iterator[None]:
    """While TensorFlow loads inside the block, its output on file descriptor 2 is held back, then passed on
    without the start-up notices of :data:`_STARTUP_NOISE`.  TensorFlow already imported, or no file
    descriptor 2 to borrow (an embedding process): nothing is filtered."""
    if "tensorflow" in sys.modules:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):  # pragma: no cover - a closed sys.stderr
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _STARTUP_NOISE.search(line.rstrip("\n")))
            if kept:
                os.write(2, kept.encode("utf-8"))


def _import_quietly() -> ModuleType:
    """``import keras`` (and with it TensorFlow) without TensorFlow's start-up notices."""
    with _without_startup_noise():
        import keras
    return keras


def configure(seed: int, strict_parity: bool) -> None:
    """Seed TensorFlow's global generator; with strict parity, turn on TensorFlow op determinism.

    Op determinism is process-wide and cannot be turned off again; models built
    afterwards in the same process run deterministic kernels too.
    """
    global _determinism_enabled
    import tensorflow as tf

    tf.random.set_seed(seed)
    if strict_parity and not _determinism_enabled:
        tf.config.experimental.enable_op_determinism()
        _determinism_enabled = True


def determinism_enabled() -> bool:
    """Whether TensorFlow op determinism is on in this process."""
    try:
        from tensorflow.python.framework.config import is_op_determinism_enabled
    except ImportError:  # pragma: no cover - private API moved
        return _determinism_enabled
    return bool(is_op_determinism_enabled())


def jit_compile_setting(determinism: bool, requested: bool = False) -> bool:
    """XLA for the step functions: `requested` (the spec's ``training.compile``) unless ``DNNC_KERAS_JIT_COMPILE``
    is set to 0 or 1, and never with op determinism."""
    value = os.environ.get(JIT_ENVIRONMENT_VARIABLE, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return not determinism
    if value:
        raise BackendError(f"{JIT_ENVIRONMENT_VARIABLE} must be 0 or 1 (received {value!r})")
    return requested and not determinism


def derived_seed(seed: int, name: str) -> int:
    """A per-layer seed (31 bits) from the spec seed and the layer's name."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
