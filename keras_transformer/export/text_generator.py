"""Prompt strings in, generated text out: tokenizer and cached sampler of
a decoder-only model in one TensorFlow graph, saved as a SavedModel."""

import pathlib

import tensorflow as tf

from keras_transformer import generation
from keras_transformer.generation._common import SamplingSettings
from keras_transformer.generation.prompts import check_long_prompt


class TextGenerator(tf.Module):
    """A trained `GPT` with its tokenizer, as a function from a batch of
    prompts to a batch of continuations.

    A prompt longer than `max_length - max_new_tokens` tokens follows the
    policy of `GPT.generate` and `keras_transformer.generation.sample`
    (`keras_transformer.generation.fit_prompts`): by default it is an
    error, a `ValueError` with the same message when called from Python
    and an `InvalidArgumentError` from the exported graph; with
    `long_prompt="crop"` it keeps its last `max_length - max_new_tokens`
    tokens, for a server that should answer every request. Characters
    the tokenizer does not know are dropped; an empty prompt (after that)
    is an error. Generation is the cached, compiled sampler
    (`keras_transformer.generation.sample_padded`), so the same prompt
    and seed give the text `sample` (and `GPT.generate`) would give.

    Args:
        model: a `keras_transformer.models.GPT`.
        tokenizer: its tokenizer (`CharTokenizer`, or any with `tokenize`
            to ragged ids and `detokenize`).
        max_new_tokens: int. Tokens generated per prompt.
        temperature: float, as in `keras_transformer.generation.sample`.
        top_k: int or `None`, as in `sample`.
        top_p: float or `None`, as in `sample`.
        repetition_penalty: float, as in `sample`.
        stop_token_ids: ids that end a row, as in `sample`.
        seed: int. The seed of `serving_default` (`generate` takes one).
        jit_compile: bool. Compile the sampling loop with XLA.
        long_prompt: `"error"` (default) or `"crop"`, for a prompt longer
            than `max_length - max_new_tokens` tokens (see above).
    """

    def __init__(
        self,
        model,
        tokenizer,
        max_new_tokens=200,
        temperature=0.8,
        top_k=None,
        top_p=None,
        repetition_penalty=1.0,
        stop_token_ids=(),
        seed=0,
        jit_compile=True,
        long_prompt="error",
        name=None,
    ):
        super().__init__(name=name)
        if tokenizer.vocab_size != model.vocab_size:
            raise ValueError(
                f"The tokenizer has {tokenizer.vocab_size} tokens but the "
                f"model expects vocab_size={model.vocab_size}."
            )
        if not 1 <= int(max_new_tokens) < model.max_length:
            raise ValueError(
                f"`max_new_tokens` must be in [1, {model.max_length - 1}] "
                "(the model's max_length leaves room for the prompt). "
                f"Received: max_new_tokens={max_new_tokens}"
            )
        # Bad settings fail here, not when the graph is first traced.
        SamplingSettings(temperature, top_k, top_p, repetition_penalty)
        self.long_prompt = check_long_prompt(long_prompt)
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = int(max_new_tokens)
        self.prompt_width = model.max_length - self.max_new_tokens
        self.options = dict(
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
            stop_token_ids=tuple(stop_token_ids),
            jit_compile=bool(jit_compile),
        )
        self.seed = int(seed)

    def prompt_ids(self, prompts):
        """`(ids (batch, prompt_width), lengths (batch,))`: the prompts'
        ids, right-padded; a prompt longer than `prompt_width` fails an
        assert or, with `long_prompt="crop"`, keeps its last
        `prompt_width` tokens."""
        ids = self.tokenizer.tokenize(prompts)
        lengths = ids.row_lengths()
        if self.long_prompt == "crop":
            start = tf.maximum(lengths - self.prompt_width, 0)
            positions = tf.ragged.range(lengths)
            keep = positions >= tf.expand_dims(start, 1)
            ids = tf.ragged.boolean_mask(ids, keep)
            lengths = ids.row_lengths()
        fits = tf.debugging.assert_less_equal(
            lengths,
            tf.constant(self.prompt_width, lengths.dtype),
            message=f"A prompt is longer than the {self.prompt_width} "
            f"tokens that fit before max_new_tokens={self.max_new_tokens} "
            f"in the model's max_length={self.model.max_length}. Shorten "
            'it, or export with long_prompt="crop" to keep its last '
            f"{self.prompt_width} tokens. Prompt lengths:",
        )
        not_empty = tf.debugging.assert_positive(
            lengths,
            message="A prompt is empty (or has no known characters): give "
            "the text to continue.",
        )
        with tf.control_dependencies([fits, not_empty]):
            dense = ids.to_tensor(
                shape=tf.stack([tf.size(lengths, tf.int64), self.prompt_width])
            )
        return dense, lengths

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def generate(self, prompts, seed):
        """Prompts `(batch,)` and a seed -> the generated continuations."""
        ids, lengths = self.prompt_ids(prompts)
        sequences, ends = generation.sample_padded(
            self.model,
            ids,
            lengths,
            self.max_new_tokens,
            seed,
            **self.options,
        )
        positions = tf.range(tf.shape(sequences)[1])[None, :]
        lengths = tf.cast(lengths, tf.int32)[:, None]
        new = (positions >= lengths) & (positions < ends[:, None])
        tokens = tf.ragged.boolean_mask(sequences, new)
        return self.tokenizer.detokenize(tf.cast(tokens, tf.int64))

    def __call__(self, prompts, seed=None):
        """Continuations of `prompts` (a string or a list of strings) as
        Python strings."""
        single = isinstance(prompts, str)
        batch = [prompts] if single else list(prompts)
        for i, p in enumerate(batch):
            if not isinstance(p, str):
                raise ValueError(
                    "TextGenerator takes strings. Received "
                    f"{type(p).__name__} at position {i}: {p!r}"
                )
        if not batch:
            return []
        # Eagerly, the tokenizer names unknown characters in its error.
        ids = self.tokenizer.tokenize(batch)
        for i, n in enumerate(ids.row_lengths().numpy()):
            if n == 0:
                raise ValueError(
                    f"Prompt {i} is empty: give the text to continue."
                )
        # A long prompt: the error of `GPT.generate`, word for word.
        generation.fit_prompts(
            ids.to_list(),
            self.model.max_length,
            self.max_new_tokens,
            long_prompt=self.long_prompt,
        )
        seed = self.seed if seed is None else int(seed)
        out = self.generate(tf.constant(batch), tf.constant(seed, tf.int32))
        text = [t.decode("utf-8") for t in out.numpy().tolist()]
        return text[0] if single else text

    def export(self, path):
        """Writes a SavedModel: `serving_default` maps `{"prompt": strings}`
        to `{"text": strings}` with the seed given here, and the function
        `generate(prompts, seed)` takes a seed. Loading it needs only
        TensorFlow and tensorflow-text."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(prompt):
            seed = tf.constant(self.seed, tf.int32)
            return {"text": self.generate(prompt, seed)}

        path = pathlib.Path(path)
        tf.saved_model.save(
            self, str(path), signatures={"serving_default": serving_default}
        )
        return path
