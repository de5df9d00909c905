"""The residual connection and layer normalization around a sublayer."""


def residual(inputs, norm, norm_first, sublayer):
    """Wraps `sublayer` in a residual connection with layer normalization.

    Post-norm (the paper): `norm(x + sublayer(x))`.
    Pre-norm (`norm_first=True`): `x + sublayer(norm(x))`, which keeps an
    unnormalized path from input to output and trains deep stacks without
    warm-up.

    `sublayer` returns a tuple whose first item is added to `inputs`; the
    rest (attention scores, caches) is returned untouched beside the result.
    """
    outputs, *extras = sublayer(norm(inputs) if norm_first else inputs)
    outputs = inputs + outputs
    if not norm_first:
        outputs = norm(outputs)
    return outputs, extras
