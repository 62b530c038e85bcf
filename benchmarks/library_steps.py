"""The library's own compiled train steps, as `fit` runs them, for the benchmarks to time.

Every benchmark times these (issue #13.8), so its figures are the product's:

- `fit_step(model)`: the compiled function `model.fit` calls once per minibatch
  (Keras' `train_function`, i.e. `tf.function(model.train_step)`), fed one batch;
- `cifar_search(...)`: a `CIFARSearch` built by `tasks.cifar.search.build_cifar_search`
  from a `CIFARSearchConfig` (the programs' builder), `strategy="random"` so that its fit
  step draws a fresh uniform arc inside the step as the search does;
- `cifar_final(...)`: the fixed network of one arc in the `ClassifierTrainer` of the final
  training (`tasks.cifar.train.build_trainer`);
- `arc_step(search)`: the search's own child step `ENASSearch.child_train_step` (the body
  its `train_step` runs) as `ENASSearch.step_functions()` compiles it, the arc an input, to
  time one arc repeated.
"""

import time


def fit_step(model):
    """`step(*batch)`: the compiled step `model.fit` runs, on one batch; returns its logs.

    `step.traces` counts the traces of `model.train_step` (a Python call runs only
    while tracing): 1 means one trace served every step.
    """
    body, traces = model.train_step, []

    def counted_train_step(data):
        traces.append(1)
        return body(data)

    model.train_step = counted_train_step  # the same body; only counts its traces
    model.make_train_function(force=True)
    function = model.train_function

    def step(*batch):
        return function([tuple(batch)])

    step.traces = traces
    return step


def wait(outputs):
    """Blocks until a step's outputs (a dict or tuple of tensors, or a tensor) exist."""
    import tensorflow as tf

    for value in tf.nest.flatten(outputs):
        if hasattr(value, "numpy"):
            value.numpy()
    return outputs


def timed(step, args_list):
    """Wall seconds of `step(*args)` for each args tuple, outputs waited for."""
    times = []
    for args in args_list:
        start = time.perf_counter()
        wait(step(*args))
        times.append(time.perf_counter() - start)
    return times


def percentiles(times):
    """p10 / median / p90 / min of step times in seconds, as milliseconds."""
    import numpy as np

    p10, median, p90 = np.percentile(times, [10, 50, 90])
    return {
        "p10": round(1e3 * p10, 1),
        "median": round(1e3 * median, 1),
        "p90": round(1e3 * p90, 1),
        "min": round(1e3 * min(times), 1),
    }


def cifar_search(search_space, child, seed=0, jit_compile=False, image_size=32):
    """A compiled `CIFARSearch` (random strategy) of `search_space` with child config `child`."""
    import numpy as np

    from keras_enas.config.cifar import CIFARSearchConfig
    from keras_enas.config.search import SearchConfig
    from keras_enas.tasks.cifar.search import build_cifar_search

    config = CIFARSearchConfig(
        search_space=search_space,
        child=child,
        search=SearchConfig(strategy="random", jit_compile=jit_compile),
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    reward = (
        rng.integers(0, 256, (child.batch_size, image_size, image_size, 3)).astype(np.uint8),
        rng.integers(0, 10, child.batch_size).astype(np.int32),
    )
    return build_cifar_search(config, reward, np.zeros(3, np.float32), np.ones(3, np.float32))


def cifar_final(space, arc, child, seed=0, jit_compile=False, **model_options):
    """The final training's compiled `ClassifierTrainer` of `arc`, sized by `child`.

    `model_options` override the final network's options (e.g. `widen_factor=1` so that a
    macro network keeps the search's constant width).
    """
    from keras_enas.config.cifar import CIFARFinalConfig, TrainConfig
    from keras_enas.models import cifar_models
    from keras_enas.tasks.cifar.train import build_trainer

    config = CIFARFinalConfig(
        search_space=space.name,
        fixed_arc=space.format_arc(arc),
        child=child,
        train=TrainConfig(jit_compile=jit_compile),
        seed=seed,
    )
    options = cifar_models.options_from_config(space.name, child, final=True)
    options.update(model_options)
    model = cifar_models.build_fixed_cnn(space, arc, seed=seed + 1, **options)
    return build_trainer(config, model)


def arc_step(search):
    """`step(x, y, arc)`: the search's own compiled `child_train_step` (`step_functions()`)."""
    return search.step_functions()["child_step"]


def num_parameters(model):
    """Trainable scalars of a model."""
    import numpy as np

    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def ptb_search(child, vocab_size=10000, seed=0, jit_compile=False):
    """A compiled `PTBSearch` (random strategy) built by `tasks.ptb.search.build_ptb_search`."""
    import numpy as np

    from keras_enas.config.ptb import PTBSearchConfig
    from keras_enas.config.search import SearchConfig
    from keras_enas.tasks.ptb.search import build_ptb_search

    config = PTBSearchConfig(
        child=child, search=SearchConfig(strategy="random", jit_compile=jit_compile), seed=seed
    )
    shape = (1, child.eval_batch_size, child.bptt)
    rng = np.random.default_rng(seed)
    reward = (rng.integers(0, vocab_size, shape), rng.integers(0, vocab_size, shape))
    return build_ptb_search(config, vocab_size, reward)
