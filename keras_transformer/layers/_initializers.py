"""Initializers that draw their own values for each weight of a layer.

A Keras initializer made without a seed fixes one when it is made and
repeats its numbers at every call: a layer that passes one instance to
several weights of the same shape (Q, K and V; two embedding tables)
starts them equal. `distinct` gives each weight its own copy.
"""

import keras


def distinct(initializer, index):
    """A copy of `initializer` for the `index`-th weight that uses it.

    - unseeded: a copy made from its config, which picks a new seed;
    - an integer seed: the copy gets `seed + index`, so the weights differ
      and a seeded model stays reproducible;
    - a `keras.random.SeedGenerator` seed: the instance itself, which
      advances at every call;
    - anything else (a function): unchanged.
    """
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    config = initializer.get_config()
    seed = config.get("seed")
    if seed is not None and not isinstance(seed, int):
        return initializer
    if isinstance(seed, int):
        config["seed"] = seed + index
    return initializer.__class__.from_config(config)
