"""Accuracy of a trained CIFAR-10 network over a whole test split."""

__all__ = ["test_accuracy"]


def test_accuracy(trainer, test_ds):
    """Test figures of a `ClassifierTrainer` over every minibatch of `test_ds`.

    Args:
        trainer: a compiled `ClassifierTrainer`.
        test_ds: `tf.data.Dataset` of standardised `(images, labels)` minibatches.

    Returns:
        `{"final_test_accuracy": float, "final_test_loss": float}`.

    Example:
    >>> test_accuracy(trainer, test_ds)["final_test_accuracy"]  # doctest: +SKIP
    0.9
    """
    test = trainer.evaluate(test_ds, return_dict=True, verbose=0)
    return {"final_test_accuracy": float(test["accuracy"]), "final_test_loss": float(test["loss"])}
