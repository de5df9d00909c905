"""Vector quantization: each vector replaced by its nearest codebook entry,
the step that turns an image into discrete tokens (VQ-VAE)."""

import keras
from keras import ops

from keras_transformer.layers import _validation


@keras.saving.register_keras_serializable(package="keras_transformer")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-neighbour quantization against a learned codebook, with the
    straight-through estimator (van den Oord et al., 2017).

    Each input vector `z` (the last axis) is replaced by the codebook entry
    `e_k` nearest to it in Euclidean distance, `k = argmin_j ||z - e_j||`.
    The forward pass returns `e_k`; the backward pass copies the output's
    gradient to `z` unchanged (`z + stop_gradient(e_k - z)`), since the
    argmin has no gradient. The encoder is pulled towards its codes by the
    commitment loss `commitment_cost * mean((z - stop_gradient(e_k))^2)`,
    which the layer adds to the model's losses (`layer.losses`).

    The codebook itself is not trained by gradient: it follows the vectors
    assigned to it as exponential moving averages (the paper's appendix),
    updated in each training call. For entry `j`, with `n_j` vectors
    assigned in the batch and `s_j` their sum:
    `N_j <- decay N_j + (1 - decay) n_j`,
    `m_j <- decay m_j + (1 - decay) s_j`, `e_j = m_j / N_j` (`N` smoothed
    so that an unused entry keeps its place). An entry whose count falls
    below `restart_threshold` (about that many vectors a batch) is dead:
    it is moved onto a random vector of the batch, so that the codebook
    does not collapse onto a few entries.

    Args:
        num_codes: int. Codebook entries (the image vocabulary).
        code_dim: int. Width of each entry; the last axis of the inputs.
        commitment_cost: float >= 0. Weight of the commitment loss.
            Defaults to `0.25`.
        decay: float in [0, 1). Moving-average decay. Defaults to `0.99`.
        epsilon: float > 0. Smoothing of the counts. Defaults to `1e-5`.
        restart_threshold: float >= 0. Count under which an entry is
            restarted; `0` never restarts. Defaults to `1.0`.
        seed: int. Seed of the restarts' choice of vectors.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: float tensor `(..., code_dim)`.
        training: bool. Updates the codebook.

    Returns:
        The quantized vectors, shaped like `inputs`.

    Example:

    >>> import numpy as np
    >>> vq = VectorQuantizer(num_codes=16, code_dim=4)
    >>> z = np.random.default_rng(0).normal(size=(2, 7, 7, 4))
    >>> tuple(vq(z.astype("float32")).shape)
    (2, 7, 7, 4)
    >>> tuple(vq.codes(z.astype("float32")).shape)
    (2, 7, 7)
    """

    def __init__(
        self,
        num_codes,
        code_dim,
        commitment_cost=0.25,
        decay=0.99,
        epsilon=1e-5,
        restart_threshold=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_codes = _validation.check_positive_int("num_codes", num_codes)
        self.code_dim = _validation.check_positive_int("code_dim", code_dim)
        if not commitment_cost >= 0:
            raise ValueError(
                "`commitment_cost` must be >= 0. Received: "
                f"commitment_cost={commitment_cost!r}"
            )
        self.commitment_cost = float(commitment_cost)
        self.decay = _validation.check_rate("decay", decay)
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0. Received: {epsilon!r}")
        self.epsilon = float(epsilon)
        if not restart_threshold >= 0:
            raise ValueError(
                "`restart_threshold` must be >= 0. Received: "
                f"restart_threshold={restart_threshold!r}"
            )
        self.restart_threshold = float(restart_threshold)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def build(self, inputs_shape):
        if inputs_shape[-1] is not None and inputs_shape[-1] != self.code_dim:
            raise ValueError(
                f"{self.name} expects the last dimension of `inputs` to be "
                f"code_dim={self.code_dim}. Received: "
                f"inputs.shape={tuple(inputs_shape)}"
            )
        shape = (self.num_codes, self.code_dim)
        self.codebook = self.add_weight(
            name="codebook",
            shape=shape,
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            autocast=False,
        )
        self.ema_count = self.add_weight(
            name="ema_count",
            shape=(self.num_codes,),
            initializer="ones",
            trainable=False,
            autocast=False,
        )
        self.ema_sum = self.add_weight(
            name="ema_sum",
            shape=shape,
            initializer="zeros",
            trainable=False,
            autocast=False,
        )
        # A copy: under JAX, two variables must not share one buffer.
        self.ema_sum.assign(ops.copy(self.codebook.value))

    def _flat_codes(self, flat):
        """Nearest entry of each row of `flat` `(n, code_dim)`, float32:
        `||z||^2 - 2 z.e + ||e||^2`, minimized over the entries."""
        codebook = ops.convert_to_tensor(self.codebook)
        distances = (
            ops.sum(flat * flat, axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(codebook))
            + ops.sum(codebook * codebook, axis=1)[None, :]
        )
        return ops.argmin(distances, axis=1)

    def codes(self, inputs):
        """The index of each input vector's nearest entry: int32 in
        `[0, num_codes)`, shaped like `inputs` without its last axis."""
        inputs = ops.cast(inputs, "float32")
        flat = ops.reshape(inputs, (-1, self.code_dim))
        codes = ops.cast(self._flat_codes(flat), "int32")
        return ops.reshape(codes, ops.shape(inputs)[:-1])

    def lookup(self, codes):
        """The entries of `codes` (ints in `[0, num_codes)`): shape
        `codes.shape + (code_dim,)`, in the layer's compute dtype."""
        vectors = ops.take(self.codebook, ops.cast(codes, "int32"), axis=0)
        return ops.cast(vectors, self.compute_dtype)

    def call(self, inputs, training=None):
        z = ops.cast(inputs, "float32")
        flat = ops.reshape(z, (-1, self.code_dim))
        codes = self._flat_codes(flat)
        quantized = ops.reshape(
            ops.take(self.codebook, codes, axis=0), ops.shape(z)
        )
        commitment = ops.mean(ops.square(z - ops.stop_gradient(quantized)))
        self.add_loss(self.commitment_cost * commitment)
        if training:
            self._update_codebook(ops.stop_gradient(flat), codes)
        out = z + ops.stop_gradient(quantized - z)
        return ops.cast(out, self.compute_dtype)

    def _update_codebook(self, flat, codes):
        one_hot = ops.one_hot(codes, self.num_codes, dtype="float32")
        counts = ops.sum(one_hot, axis=0)
        sums = ops.matmul(ops.transpose(one_hot), flat)
        decay = self.decay
        count = decay * self.ema_count + (1.0 - decay) * counts
        total = ops.sum(count)
        smoothed = (
            (count + self.epsilon)
            / (total + self.num_codes * self.epsilon)
            * total
        )
        ema_sum = decay * self.ema_sum + (1.0 - decay) * sums
        codebook = ema_sum / smoothed[:, None]
        if self.restart_threshold > 0:
            dead = count < self.restart_threshold
            picks = keras.random.randint(
                (self.num_codes,),
                0,
                ops.shape(flat)[0],
                seed=self._seed_generator,
            )
            fresh = ops.take(flat, picks, axis=0)
            codebook = ops.where(dead[:, None], fresh, codebook)
            # A restarted entry starts as one vector's worth of history.
            ema_sum = ops.where(dead[:, None], fresh, ema_sum)
            count = ops.where(dead, ops.ones_like(count), count)
        self.ema_count.assign(count)
        self.ema_sum.assign(ema_sum)
        self.codebook.assign(codebook)

    def perplexity(self, codes):
        """`exp(entropy)` of how often each entry is used in `codes`: from
        1 (one entry for everything) to `num_codes` (all used equally)."""
        flat = ops.reshape(ops.cast(codes, "int32"), (-1,))
        usage = ops.mean(ops.one_hot(flat, self.num_codes, dtype="float32"), 0)
        return ops.exp(-ops.sum(usage * ops.log(usage + 1e-10)))

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_codes=self.num_codes,
            code_dim=self.code_dim,
            commitment_cost=self.commitment_cost,
            decay=self.decay,
            epsilon=self.epsilon,
            restart_threshold=self.restart_threshold,
            seed=self.seed,
        )
        return config
