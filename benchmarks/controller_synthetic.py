"""Does the controller move at the CPU flagfiles' budgets? A synthetic reward, Adam ε swept.

Prints one JSON object. For each setting (the controller part of a CPU flagfile: space
size, hidden size, logit constants, learning rate, arcs per update, updates in the whole
search), the controller is trained on `scale · (fraction of tokens equal to a hidden
target + N(0, 0.05²))` for each Adam ε, and the entropy and the mean per-token
probability of the target (teacher-forced, exact) are reported before and after.
`scale` 0.1 mimics PTB's reward differences (80 / ppl varies by a few hundredths).

    python benchmarks/controller_synthetic.py --settings ptb_cpu,macro_cpu,micro_cpu
"""

import argparse
import json
import time

from machine_info import machine

SETTINGS = {  # configs/*_search_cpu.flags (controller sections), updates = epochs x steps
    "ptb_cpu": {
        "space": ("rnn", 8),
        "hidden": 100,
        "temperature": 5.0,
        "tanh": 2.5,
        "lr": 3.5e-3,
        "aggregate": 10,
        "updates": 60,
    },
    "macro_cpu": {
        "space": ("macro", 6),
        "hidden": 64,
        "temperature": None,
        "tanh": 1.5,
        "lr": 5e-3,
        "aggregate": 10,
        "updates": 300,
    },
    "micro_cpu": {
        "space": ("micro", 5),
        "hidden": 64,
        "temperature": None,
        "tanh": 1.1,
        "lr": 5e-3,
        "aggregate": 5,
        "updates": 300,
    },
}


def _space(kind, size):
    from keras_enas.search_spaces import macro, micro, rnn

    return {"rnn": rnn.RNNCellSpace, "macro": macro.MacroSpace, "micro": micro.MicroSpace}[kind](
        size
    )


def run(setting, epsilon, scale, beta_1, seed):
    from keras_enas import synthetic
    from keras_enas.controller import Controller
    from keras_enas.reinforce import ControllerTrainer

    s = SETTINGS[setting]
    space = _space(*s["space"])
    controller = Controller(
        space.steps,
        initial_anchors=space.initial_anchors,
        sample_order=space.sample_order,
        hidden_size=s["hidden"],
        temperature=s["temperature"],
        tanh_constant=s["tanh"],
        seed=seed,
    )
    trainer = ControllerTrainer(
        controller,
        learning_rate=s["lr"],
        beta_1=beta_1,
        epsilon=epsilon,
        entropy_weight=1e-4,
        baseline_decay=0.99,
        num_aggregate=s["aggregate"],
    )
    target = space.random_arc(seed + 100)
    reward = synthetic.match_reward(target, noise_std=0.05, scale=scale, seed=seed)
    start = time.time()
    history = synthetic.train_on_reward(
        trainer, reward, s["updates"], target, every=max(1, s["updates"] // 4)
    )
    return {
        "setting": setting,
        "adam_epsilon": epsilon,
        "scale": scale,
        "seed": seed,
        "updates": s["updates"],
        "arcs": s["updates"] * s["aggregate"],
        "seconds": round(time.time() - start, 1),
        "curve": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in h.items()} for h in history
        ],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="ptb_cpu,macro_cpu,micro_cpu")
    parser.add_argument("--epsilons", default="1e-3,1e-8")
    parser.add_argument("--scales", default="1.0,0.1")
    parser.add_argument("--beta_1", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = [
        run(setting, float(eps), float(scale), args.beta_1, args.seed)
        for setting in args.settings.split(",")
        for scale in args.scales.split(",")
        for eps in args.epsilons.split(",")
    ]
    print(json.dumps({"machine": machine(), "beta_1": args.beta_1, "results": results}, indent=1))


if __name__ == "__main__":
    main()
