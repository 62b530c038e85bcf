"""Final training of a found architecture: train from scratch, evaluate, export.

Submodules are imported explicitly (`keras_enas.train.ptb`, `.architecture`, ...), so that
`keras_enas.train.architecture` stays free of TensorFlow.
"""
