"""Tiny exported models for the serving tests: a 3-layer macro CNN on 8 x 8 images, a PTB LM."""

import numpy as np

from keras_enas.config.ptb_final import PTB_FINAL_ARC
from keras_enas.models import cifar_models, fixed_rnn
from keras_enas.search_spaces import get_space, rnn
from keras_enas.tasks.cifar import export as cifar_export
from keras_enas.tasks.ptb import export as ptb_export

IMAGE_SHAPE = (8, 8, 3)
CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN, STD = np.full(3, 0.5, np.float32), np.full(3, 0.25, np.float32)
# A PTB-like vocabulary: sorted, with <eos> and <unk>; V = 50.
VOCAB = tuple(
    sorted(["<eos>", "<unk>", "the", "a", "of", "N", "$"] + [f"w{i:02d}" for i in range(43)])
)
V, H = len(VOCAB), 12


def cifar_model():
    """The fixed macro network of arc "1 5 1 4 0 1" (3 layers, 4 filters) on 8 x 8 images."""
    space = get_space("macro", num_layers=3)
    arc = space.parse("1 5 1 4 0 1")
    model = cifar_models.build_fixed_cnn(
        space, arc, filters=4, dropout=0.0, image_shape=IMAGE_SHAPE, seed=3
    )
    return model, space, arc


def ptb_model():
    """The ptb_final.sh cell (12 nodes) at H = 12 over the 50-word `VOCAB`."""
    space = rnn.RNNCellSpace(12, "original")
    arc = space.parse(PTB_FINAL_ARC)
    model = fixed_rnn.build_fixed_model(space, arc, V, H, init_range=0.4, seed=2)
    return model, space, arc


def export_cifar(directory, tflite=False):
    """Exports `cifar_model()` with `CLASS_NAMES` into `directory`; returns the model."""
    model, space, arc = cifar_model()
    cifar_export.export_cifar_model(
        model, str(directory), MEAN, STD, space, arc, class_names=CLASS_NAMES, tflite=tflite
    )
    return model


def export_ptb(directory, tflite=False):
    """Exports `ptb_model()` with `VOCAB` into `directory`; returns the model."""
    model, space, arc = ptb_model()
    ptb_export.export_ptb_model(model, str(directory), space, arc, vocab=VOCAB, tflite=tflite)
    return model
