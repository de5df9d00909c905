"""Low-rank adaptation (LoRA) of a whole model.

Keras gives `enable_lora(rank)` to its `Dense` (the attention
projections, the feed-forward, the heads) and `Embedding` layers: the
kernel `W` is frozen and the layer computes with `W + (alpha / rank) A
B`, where `A` and `B` are new trainable weights of rank `rank` (`B`
starts at zero, so the model starts unchanged). The
models' `enable_lora` applies it to the named projections of every block
and freezes every other weight, biases and norms included, so that
training changes only `A` and `B`. Saving merges `A B` into the kernels.
"""

import math

from keras_transformer.layers import _validation

# Hu et al. (2021), section 7.1: adapting W_q and W_v does as well as
# adapting all four attention projections for the same number of weights.
DEFAULT_TARGETS = ("query", "value")


class LoRA:
    """Mixin for the models: `enable_lora` on named sublayers."""

    def enable_lora(self, rank, targets=DEFAULT_TARGETS, alpha=None):
        """Trains only rank-`rank` updates of the `targets` projections.

        Args:
            rank: int. Rank of each update.
            targets: names of the Keras layers to adapt, in every block:
                among `"query"`, `"key"`, `"value"`, `"attention_output"`
                (the attention projections), `"inner_dense"`,
                `"output_dense"` (feed-forward) and `"head"`. Defaults to
                `("query", "value")`.
            alpha: float. Scale of the update is `alpha / rank`. Defaults
                to `rank` (scale 1).

        Returns:
            The number of trainable weights (scalars) left.

        Compile (again) after this call: the optimizer must see the new
        set of trainable variables. Works on a quantized model too (the
        update stays in float; Keras' "QLoRA").
        """
        rank = _validation.check_positive_int("rank", rank)
        if not self.built:
            raise ValueError(
                f"{self.name} has no weights yet: call it on a batch (or "
                "build it) before `enable_lora`."
            )
        targets = (targets,) if isinstance(targets, str) else tuple(targets)
        layers = [
            layer
            for layer in self._flatten_layers(include_self=False)
            if hasattr(layer, "enable_lora") and layer.weights
        ]
        available = sorted({layer.name for layer in layers})
        chosen = [layer for layer in layers if layer.name in targets]
        missing = set(targets) - {layer.name for layer in chosen}
        if not targets or missing:
            raise ValueError(
                f"{self.name} has no layer named {sorted(missing)} to adapt; "
                f"`targets` must name some of {available}. "
                f"Received: targets={targets!r}"
            )
        if any(layer.lora_enabled for layer in chosen):
            raise ValueError(
                f"LoRA is already enabled on {self.name}. Received: "
                f"enable_lora(rank={rank}) a second time"
            )
        for layer in chosen:
            layer.enable_lora(rank, lora_alpha=alpha)
        adapters = {
            id(weight)
            for layer in chosen
            for weight in (layer.lora_kernel_a, layer.lora_kernel_b)
        }
        for weight in self.weights:
            weight.trainable = id(weight) in adapters
        return sum(math.prod(weight.shape) for weight in self.trainable_weights)
