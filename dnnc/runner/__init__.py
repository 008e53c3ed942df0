"""The shared training runner: data order, learning rates, metrics, callbacks, progress and run records.

Data loading lives in :mod:`dnnc.runner.datasets`.  Nothing here imports a
deep-learning framework; backends do, when they build a model.
"""

from .api import RunResult, compile_with_overrides, evaluate_run, get_backend, load_run_model, predict, train_spec
from .callbacks import Callback
from .context import CallbackContext, TrainingContext, TrainingState
from .errors import RunnerError, ShapeMismatch
from .executor import Batch, LocalExecutor, StepExecutor
from .history import History
from .loop import Trainer, evaluate_split, train
from .metrics import MetricSet
from .progress import JsonProgress, Progress, QuietProgress, RichProgress, make_progress
from .resume import resume_run
from .sampling import BatchSource, SequentialBatches, ShuffledBatches, epoch_permutation

__all__ = [
    "Batch", "BatchSource", "Callback", "CallbackContext", "History", "JsonProgress", "LocalExecutor", "MetricSet",
    "Progress", "QuietProgress", "RichProgress", "RunResult", "RunnerError", "SequentialBatches", "ShapeMismatch",
    "ShuffledBatches", "StepExecutor", "Trainer", "TrainingContext", "TrainingState", "compile_with_overrides", "epoch_permutation", "evaluate_run",
    "evaluate_split", "get_backend", "load_run_model", "make_progress", "predict", "resume_run", "train",
    "train_spec",
]
