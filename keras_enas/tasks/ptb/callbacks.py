"""PTB callbacks: state resets and the lr decay (search and final), whole-split validation."""

import time

import keras
from absl import logging

from keras_enas.tasks.ptb import evaluate

__all__ = ["EpochDecay", "EpochValidation", "ResetStates"]


class EpochValidation(keras.callbacks.Callback):
    """After every epoch: validation perplexity over the whole split; the ASGD trigger.

    Adds `final_valid_ppl` (and `final_valid_loss`, `asgd`) to the epoch's logs, so
    later callbacks (CSVLogger, TensorBoard, `JsonlLogger`) record them. When the
    trainer averages its weights, the averages are evaluated (reference §4.2, enas_lm).

    Args:
        tokens: the validation token stream.
        batch_size: rows the stream is cut into.
        bptt: tokens per evaluation chunk.
    """

    def __init__(self, tokens, batch_size=64, bptt=35):
        super().__init__()
        self.tokens, self.batch_size, self.bptt = tokens, batch_size, bptt

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        trainer, start = self.model, time.time()
        averaging = trainer.averaging
        if averaging:
            trainer.swap_averages()
        result = evaluate.perplexity(trainer.lm, self.tokens, self.batch_size, self.bptt)
        if averaging:
            trainer.swap_averages()
        logs["final_valid_loss"], logs["final_valid_ppl"] = result["loss"], result["ppl"]
        logs["asgd"] = float(trainer.update_asgd(result["ppl"]))
        logs["valid_seconds"] = time.time() - start
        logging.info(
            "epoch %d  final_valid_ppl=%.2f%s",
            epoch + 1,
            result["ppl"],
            "  (averaged weights)" if averaging else "",
        )


class ResetStates(keras.callbacks.Callback):
    """Zeros the carried hidden states at the start of every epoch and evaluation."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_states()

    def on_test_begin(self, logs=None):
        self.model.reset_states()


class EpochDecay(keras.callbacks.Callback):
    """lr = base · decay^max(0, epoch + 1 − start), set at the start of each epoch."""

    def __init__(self, base, decay, start):
        super().__init__()
        self.base, self.decay, self.start = base, decay, start

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.base * self.decay ** max(0, epoch + 1 - self.start)
        self.model.optimizer.learning_rate.assign(lr)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate.numpy())
