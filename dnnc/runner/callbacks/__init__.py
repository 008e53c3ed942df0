"""Training callbacks, implemented once for every backend (Keras 3 semantics).

Each sees the run through a :class:`~dnnc.runner.context.TrainingContext`; see :mod:`.base`.
"""

from .atomic import atomic_save_npz, atomic_write
from .base import Callback, CallbackContext, CallbackList
from .csv_logger import CsvLogger
from .early_stopping import EarlyStopping
from .event_writer import ScalarEventWriter
from .event_histograms import HistogramEventWriter
from .factory import BUILTIN_CALLBACKS, build_callback, build_callbacks
from .histograms import Histograms
from .model_checkpoint import ModelCheckpoint
from .monitor import Monitor, resolve_mode
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN
from .unfreeze import Unfreeze

__all__ = [
    "BUILTIN_CALLBACKS", "Callback", "CallbackContext", "CallbackList", "CsvLogger", "EarlyStopping",
    "HistogramEventWriter", "Histograms", "ModelCheckpoint", "Monitor", "ReduceLROnPlateau", "ScalarEventWriter",
    "TensorBoard", "TerminateOnNaN", "Unfreeze",
    "atomic_save_npz", "atomic_write", "build_callback", "build_callbacks", "resolve_mode",
]
