"""unfreeze: make frozen layers trainable after some epochs (two-phase fine-tuning).

At ``on_epoch_begin(after_epochs)`` (the first epoch after ``after_epochs``
frozen ones, 0-based), the callback asks the loop to unfreeze ``layers``
(``context.unfreeze``: their weights join the gradients, a frozen batch norm
leaves inference mode, the optimizer starts afresh) and, when
``learning_rate`` is given, sets it for that step (``context.set_learning_rate``;
later steps follow the schedule times the same factor).  With a learning rate
the class declares ``changes_learning_rate``, so ``learning_rate`` is a
history key.  Nothing of its own needs saving in a checkpoint: which layers
were unfrozen is part of the loop's state.
"""

from __future__ import annotations

from typing import Sequence

from .base import Callback


class Unfreeze(Callback):
    def __init__(self, after_epochs: int, layers: Sequence[str], learning_rate: float | None = None) -> None:
        self.after_epochs = int(after_epochs)
        self.layers = list(layers)
        self.learning_rate = None if learning_rate is None else float(learning_rate)
        self.changes_learning_rate = self.learning_rate is not None

    def on_train_begin(self, logs=None) -> None:
        if self.after_epochs >= self.context.epochs and not self.context.resumed:
            self.context.message(f"unfreeze: after_epochs = {self.after_epochs} but the run has "
                                 f"{self.context.epochs} epochs, so {', '.join(self.layers)} stay frozen", "warning")

    def on_epoch_begin(self, epoch: int) -> None:
        if epoch != self.after_epochs:
            return
        self.context.unfreeze(self.layers)
        text = f"epoch {epoch + 1}: unfroze {', '.join(self.layers)}"
        if self.learning_rate is not None:
            self.context.set_learning_rate(self.learning_rate)
            text += f"; learning rate {self.learning_rate:g}"
        self.context.message(text)
