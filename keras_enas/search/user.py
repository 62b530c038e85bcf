"""`ENAS`: ENAS weight sharing on a user's own Keras model and data (choice layers)."""

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from keras_enas import controller as controller_lib
from keras_enas import precision, reinforce
from keras_enas.config import base as config_base
from keras_enas.config.search import ControllerConfig
from keras_enas.config.user import UserSearchConfig
from keras_enas.run import log_repair, logs, records
from keras_enas.run import workdir as workdir_lib
from keras_enas.search import callbacks as cb
from keras_enas.search import controller_logs, derive, enas, user_data, user_liveness, user_schema


class ENAS(enas.ENASSearch):
    """The ENAS search of a model built with `OpChoice`/`InputChoice`, as a `keras.Model`.

    Every training step samples an arc (ENAS §2.2, M = 1), sets the choices' selections
    from it in-graph and trains the shared weights ω on one minibatch; after each epoch
    the controller θ is trained with REINFORCE, each sampled arc rewarded on ONE random
    validation minibatch. One trace serves every arc. All variables are created here.

    Args:
        model: a built keras Model containing choice layers (the supernet).
        loss: a Keras loss (name, function or instance) for ω.
        reward: None (accuracy matching `loss`), a Keras metric (name or instance), or a
            callable `(y_true, y_pred) -> scalar`; higher is better.
        metrics: training metrics (Keras metric instances or `"accuracy"`).
        optimizer: the child optimizer (default: Adam at `learning_rate`).
        workdir: if set, the config, `history.csv`, `log.jsonl`, checkpoints and
            `best_architecture.json` live there, and an existing search is resumed.
        config: a `UserSearchConfig`; `**settings` override its fields (`strategy`,
            `seed`, `grad_clip`, `jit_compile`, `controller` = a `ControllerConfig` or a
            dict of its fields, ...).

    Raises:
        ValueError: if the model has no choices, the settings are out of range, or the
            workdir holds a search with other settings.

    Example:

    ```python
    search = keras_enas.ENAS(supernet, loss="sparse_categorical_crossentropy")
    search.fit(train_ds, validation_data=valid_ds, epochs=10)
    best = search.best_architecture(num_samples=50)   # {"block1": 2, "skip": 0}
    ```
    """

    def __init__(
        self,
        model: keras.Model,
        loss: str | Callable | keras.losses.Loss,
        reward: str | Callable | keras.metrics.Metric | None = None,
        metrics: Sequence[str | keras.metrics.Metric] | None = None,
        optimizer: keras.optimizers.Optimizer | None = None,
        workdir: str | os.PathLike | None = None,
        config: UserSearchConfig | None = None,
        **settings: Any,
    ) -> None:
        config = _resolve(config, settings)
        space = user_schema.space_of(model)
        user_schema.set_op_selection(model, "compute_all" if config.jit_compile else "switch_case")
        k = config.controller
        policy = controller_lib.Controller(
            space.steps,
            hidden_size=k.hidden_size,
            temperature=k.temperature or None,
            tanh_constant=k.tanh_constant or None,
            init_range=k.init_range,
            seed=config.seed + 2,
            skip_target=k.skip_target,
            dtype="float32",  # the controller stays float32 under mixed precision
        )
        trainer = reinforce.ControllerTrainer(
            policy,
            learning_rate=k.learning_rate,
            beta_1=k.adam_beta1,
            epsilon=k.adam_epsilon,
            baseline_decay=k.baseline_decay,
            entropy_weight=k.entropy_weight,
            skip_weight=k.skip_weight,
            num_aggregate=k.num_aggregate,
        )
        super().__init__(
            space,
            model,
            trainer,
            strategy=config.strategy,
            grad_clip=config.grad_clip,
            seed=config.seed,
            arcs_per_step=config.arcs_per_step,
            name="enas",
        )
        self.config, self.workdir = config, workdir
        self.controller_updates = k.train_steps
        self._slots = user_schema.slots(model, space)
        self._liveness = user_liveness.Liveness(model, self._slots)
        self._loss_fn = keras.losses.get(loss)
        if self._loss_fn is None:
            raise ValueError(f"`loss` must be a Keras loss. Received: loss={loss!r}")
        self._reward_fn = user_data.reward_function(reward, loss)
        self._metrics = user_data.train_metrics(metrics, loss)
        self._reward_data = self._reward_source = None
        self.compile(
            optimizer=optimizer or keras.optimizers.Adam(config.learning_rate),
            jit_compile=config.jit_compile,
        )
        self.optimizer.build(model.trainable_variables)
        self.built = True
        self._manager = None
        if workdir:
            if config.deterministic:
                tf.config.experimental.enable_op_determinism()
            workdir_lib.prepare(workdir, self.run_config(loss))
            self._manager = workdir_lib.checkpoint_manager(workdir, **self.checkpoint_trackables())
            workdir_lib.restore_latest(self._manager)

    def checkpoint_trackables(self):
        """What the workdir's checkpoints hold (see `keras_enas.run.workdir`)."""
        return {
            "search": self,
            "child_optimizer": self.optimizer,
            "trainer": self.trainer,
            # Every model variable by position: tf.train.Checkpoint does not reach the
            # weights of layers held in a list (OpChoice candidates) through the model.
            "child_variables": {f"v{i}": v for i, v in enumerate(self.child.variables)},
        }

    def run_config(self, loss):
        """The dict written as the workdir's `config.json`."""
        # The space's structure only: auto-generated layer names may differ between
        # processes building the same model, and must not block a resume.
        structure = [
            {k: c.get(k) for k in ("name", "kind", "num_chosen", "reduction")}
            | {"num_candidates": len(c["candidates"])}
            for c in self.space.choices
        ]
        return {
            "search": self.config.to_dict(),
            "search_space": self.space.name,
            "space_structure": structure,
            "loss": loss if isinstance(loss, str) else type(loss).__name__,
        }

    @property
    def metrics(self):
        return [self.loss_tracker, *self._metrics]

    def _logs(self):
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return super().train_step((x, y))

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return super().test_step((x, y))

    def _forward(self, x, arc, training):
        """The supernet on `x` as the child `arc`: selections set in-graph, and the
        choices the arc cuts off from the output skipped (see `user_liveness`)."""
        user_schema.assign(self._slots, arc)
        flags = self._liveness(arc)
        layers = [layer for layer in self._liveness.op_choices if id(layer) in flags]
        for layer in layers:
            object.__setattr__(layer, "live", flags[id(layer)])
        try:
            return self.child(x, training=training)
        finally:
            for layer in layers:
                object.__setattr__(layer, "live", None)

    def child_loss(self, x, y, arc, training):
        # A mixed-precision supernet's outputs: the loss (and softmax) runs in float32.
        y_pred = tf.nest.map_structure(precision.float32, self._forward(x, arc, training))
        loss = tf.reduce_mean(self._loss_fn(y, y_pred))
        for metric in self._metrics:
            metric.update_state(y, y_pred)
        objective = loss + tf.add_n(self.child.losses) if self.child.losses else loss
        return loss, objective

    def reward(self, arc):
        """ENAS §2.2: the reward of `arc` on one random validation minibatch."""
        if self._reward_data is None:
            raise ValueError(
                "No validation data: pass `validation_data` to `fit()` (or to "
                "`best_architecture()`) for the rewards."
            )
        x, y = user_data.random_batch(
            self._reward_data, self.config.reward_batch_size, self.seed_generator
        )
        return self._arc_reward(x, y, arc)

    def _arc_reward(self, x, y, arc):
        y_pred = tf.nest.map_structure(precision.float32, self._forward(x, arc, False))
        return tf.cast(self._reward_fn(y, y_pred), tf.float32)

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        validation_data: Any = None,
        epochs: int = 1,
        callbacks: Sequence[keras.callbacks.Callback] | None = None,
        **kwargs: Any,
    ) -> keras.callbacks.History | None:
        """`keras.Model.fit` on any data; the controller phase ends every epoch.

        With a `workdir`, `epochs` is the total: a resumed search continues after the
        last checkpointed epoch, and logs and checkpoints are added to `callbacks`.

        Raises:
            ValueError: if `validation_data` is missing (rewards need it).
        """
        if validation_data is None:
            raise ValueError(
                "`validation_data` is required: ENAS rewards each sampled "
                "architecture on a validation minibatch."
            )
        self._set_reward_data(validation_data)
        phase = cb.ControllerPhase(
            num_updates=self.controller_updates,
            every=self.config.controller_every,
            num_logged=self.config.log_num_arcs,
            num_marginal_samples=self.config.log_marginal_samples,
        )
        callbacks = [phase, *(callbacks or [])]
        if self.workdir:
            kwargs["initial_epoch"] = int(self.epochs_done.numpy())
            # Each epoch once in every log after a kill (see `run.log_repair`).
            log_repair.truncate_logs(
                self.workdir, kwargs["initial_epoch"], int(self.optimizer.iterations.numpy())
            )
            callbacks += [
                controller_logs.MarginalsTensorBoard(
                    os.path.join(self.workdir, "tensorboard", "controller"), source=phase
                ),
                logs.CSVLogger(os.path.join(self.workdir, "history.csv"), append=True),
                logs.JsonlLogger(os.path.join(self.workdir, "log.jsonl"), samples_from=phase),
                logs.Checkpoint(self._manager),
            ]
            if kwargs["initial_epoch"] >= epochs:
                return None
        kwargs.setdefault("shuffle", not isinstance(x, tf.data.Dataset))
        return super().fit(
            x, y, validation_data=validation_data, epochs=epochs, callbacks=callbacks, **kwargs
        )

    def _set_reward_data(self, validation_data):
        if validation_data is self._reward_source:
            return
        self._reward_source = validation_data
        self._reward_data = user_data.to_tensors(validation_data)
        self._phase_fns = None  # the reward traces capture the data

    def score_arcs(self, arcs, scoring="minibatch", seed=0, num_batches=1):
        """Rewards of `arcs`, all on the same `num_batches` validation minibatches.

        The reward of an arc is the mean of its rewards on those minibatches (see
        `derive.derive`); only `"minibatch"` scoring is offered for user searches.
        """
        del scoring
        size = self.config.reward_batch_size
        x, y = user_data.fixed_batch(self._reward_data, size * num_batches, seed)
        count = int(tf.shape(tf.nest.flatten(x)[0])[0])
        chunks = [
            tf.nest.map_structure(lambda t, i=i: t[i : i + size], (x, y))
            for i in range(0, count, size)
        ]
        fn = tf.function(self._arc_reward)
        return [
            {"reward": float(sum(fn(cx, cy, tf.constant(arc)) for cx, cy in chunks) / len(chunks))}
            for arc in arcs
        ]

    def best_architecture(
        self, num_samples: int | None = None, validation_data: Any = None
    ) -> dict[str, int | list[int]]:
        """Samples arcs from the policy, scores them, returns the best (ENAS §2.2 derive).

        Args:
            num_samples: arcs to sample (default: `config.derive_num_samples`).
            validation_data: rewards data, if `fit` was not called in this process.

        Returns:
            `{choice name: index or list of indices}`; with a workdir it is also
            written to `best_architecture.json`, and drawn as `choices.png`.
        """
        if validation_data is not None:
            self._set_reward_data(validation_data)
        if self._reward_data is None:
            raise ValueError("`validation_data` is required (call `fit` first or pass it).")
        ranked = derive.derive(self, num_samples or self.config.derive_num_samples)
        best = self.space.decode(ranked[0]["arc"])
        if self.workdir:
            records.write_result(
                self.workdir,
                {
                    "search_space": self.space.name,
                    "space_config": self.space.get_config(),
                    "strategy": self.config.strategy,
                    "arc": self.space.format_arc(ranked[0]["arc"]),
                    "architecture": best.to_dict(),
                    "decoded": best.to_dict(),
                    "decoded_text": str(best),
                    "scoring": "minibatch",
                    "top_k": [
                        {
                            "arc": self.space.format_arc(r["arc"]),
                            "decoded_text": str(self.space.decode(r["arc"])),
                            "reward": r["reward"],
                        }
                        for r in ranked[: self.config.derive_top_k]
                    ],
                    "scores": [
                        {"arc": self.space.format_arc(r["arc"]), "reward": r["reward"]}
                        for r in ranked
                    ],
                    "note": records.NOTE,
                },
            )
            from keras_enas import draw_choices  # pylint: disable=g-import-not-at-top

            draw_choices.draw_choices(
                self.space, ranked[0]["arc"], os.path.join(self.workdir, "choices.png")
            )
        return best.to_dict()

    @classmethod
    def from_workdir(cls, workdir, model, loss=None, reward=None, **kwargs):
        """Reopens the search in `workdir` (config, controller, shared weights) on `model`.

        Raises:
            ValueError: if `workdir` holds no user search.
        """
        path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
        if not os.path.exists(path):
            raise ValueError(f"No search config in {workdir!r} (expected {path}).")
        saved = workdir_lib.read_config(workdir)  # a corrupt file or a JSON list: named
        if saved.get("search_space") != "user":
            raise ValueError(
                f"{workdir!r} holds a {saved.get('search_space')!r} search, not a "
                "user search; use keras_enas.load_search."
            )
        try:
            config = config_base.from_dict(UserSearchConfig, saved.get("search"))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None
        return cls(
            model, loss or saved["loss"], reward=reward, workdir=workdir, config=config, **kwargs
        )


def load_user_search(
    workdir: str | os.PathLike,
    model: keras.Model,
    loss: str | Callable | keras.losses.Loss | None = None,
    reward: str | Callable | keras.metrics.Metric | None = None,
    **kwargs: Any,
) -> ENAS:
    """Reopens a user search from its workdir: `ENAS.from_workdir(workdir, model, ...)`."""
    return ENAS.from_workdir(workdir, model, loss=loss, reward=reward, **kwargs)


def load_registered(workdir, config, run_info, model=None, loss=None, reward=None, **kwargs):
    """The "user" space's `SpaceSpec.loader` (`keras_enas.load_search(workdir, model=...)`).

    Returns:
        `(UserSearchConfig, search)`; the search has restored its workdir already.

    Raises:
        ValueError: if `model` (the supernet the search ran on) is not given.
    """
    del run_info  # a user search needs no data sizes: the model carries them
    if model is None:
        raise ValueError(
            "A user search is reopened on its supernet: pass "
            "`keras_enas.load_search(workdir, model=supernet)`."
        )
    del config  # the search reads its own `UserSearchConfig` from the workdir
    search = ENAS.from_workdir(workdir, model, loss=loss, reward=reward, **kwargs)
    return search.config, search


def _resolve(config, settings):
    config = config or UserSearchConfig()
    if not isinstance(config, UserSearchConfig):
        raise TypeError(f"`config` must be a UserSearchConfig. Received: {config!r}")
    if isinstance(settings.get("controller"), dict):
        settings["controller"] = ControllerConfig(**settings["controller"])
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(UserSearchConfig)})
    if unknown:
        raise TypeError(f"Unknown ENAS settings: {unknown}. Expected fields of UserSearchConfig.")
    return dataclasses.replace(config, **settings)


__all__ = ["ENAS", "load_registered", "load_user_search"]
