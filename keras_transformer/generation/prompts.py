"""Prompts for a decoder-only model: parsing them, and the one policy for
a prompt longer than the model's window leaves room for.

A decoder-only model reads at most `max_length` tokens (its window), and
generating `max_new_tokens` after a prompt of `n` tokens needs
`n + max_new_tokens <= max_length`. `fit_prompts` says what happens to a
longer prompt; `sample`, `GPT.generate` and `TextGenerator` all apply it
through their `long_prompt` argument.
"""

import numbers

import numpy as np

from keras_transformer.generation._common import check_int

LONG_PROMPT_POLICIES = ("error", "crop")


def check_long_prompt(long_prompt):
    if not isinstance(long_prompt, str) or (
        long_prompt not in LONG_PROMPT_POLICIES
    ):
        raise ValueError(
            '`long_prompt` must be "error" or "crop". '
            f"Received: long_prompt={long_prompt!r}"
        )
    return long_prompt


def prompt_room(max_length, max_new_tokens):
    """The most prompt tokens that fit before `max_new_tokens` new ones in
    a window of `max_length`: `max_length - max_new_tokens`, at least 1."""
    check_int("max_new_tokens", max_new_tokens)
    if max_new_tokens >= max_length:
        raise ValueError(
            f"`max_new_tokens` must be at most {max_length - 1}: the "
            f"model's max_length={max_length} must leave room for at least "
            f"one prompt token. Received: max_new_tokens={max_new_tokens}"
        )
    return max_length - max_new_tokens


def fit_prompts(prompts, max_length, max_new_tokens, long_prompt="error"):
    """Makes prompts fit a decoder-only model's window, with room for
    `max_new_tokens` new tokens after each.

    A prompt fits when `len(prompt) + max_new_tokens <= max_length`, that
    is when it has at most `max_length - max_new_tokens` tokens. A longer
    one is an error by default: nothing is dropped from a prompt unless
    you ask for it. With `long_prompt="crop"` it keeps its last
    `max_length - max_new_tokens` tokens, the ones nearest to the text
    to generate (as nanoGPT crops its context); its beginning is not
    seen by the model.

    `keras_transformer.generation.sample`, `GPT.generate` and
    `keras_transformer.export.TextGenerator` apply this policy through
    their own `long_prompt` argument, with the same default and the same
    error message. To generate more tokens than the window holds, call
    this before each chunk of a sliding window, with the text so far as
    the prompt and `long_prompt="crop"`.

    Args:
        prompts: a list of id lists (one per prompt).
        max_length: int. The model's window (`model.max_length`).
        max_new_tokens: int >= 1. Tokens to generate after each prompt.
        long_prompt: `"error"` (default) or `"crop"`.

    Returns:
        A list of id lists: each prompt, or its last
        `max_length - max_new_tokens` tokens when it was longer and
        `long_prompt="crop"`.

    Raises:
        ValueError: `long_prompt="error"` and a prompt is too long (the
            message names the prompt, its length, `max_new_tokens` and
            `max_length`); or `max_new_tokens >= max_length`, which leaves
            no room for a prompt.

    Example:

    >>> fit_prompts([[1, 2, 3, 4, 5], [6]], max_length=6, max_new_tokens=3,
    ...             long_prompt="crop")
    [[3, 4, 5], [6]]
    """
    if any(isinstance(p, numbers.Integral) for p in prompts):
        raise ValueError(
            "`prompts` must be a list of id lists (one per prompt). "
            "Received a flat list of ids: wrap one prompt as [ids]."
        )
    prompts = [[int(t) for t in prompt] for prompt in prompts]
    starts = crop_starts(
        [len(p) for p in prompts], max_length, max_new_tokens, long_prompt
    )
    return [p[s:] for p, s in zip(prompts, starts.tolist(), strict=True)]


def crop_starts(lengths, max_length, max_new_tokens, long_prompt):
    """Where each prompt of `lengths` tokens starts under the policy (see
    `fit_prompts`): 0, or `length - room` for a cropped one."""
    check_long_prompt(long_prompt)
    room = prompt_room(check_int("max_length", max_length), max_new_tokens)
    lengths = np.asarray(lengths, "int64").reshape(-1)
    too_long = np.flatnonzero(lengths > room)
    if too_long.size and long_prompt == "error":
        row = int(too_long[0])
        raise ValueError(
            f"Prompt {row} has {lengths[row]} tokens, more than the {room} "
            f"that fit before max_new_tokens={max_new_tokens} in the "
            f"model's max_length={max_length}. Shorten it, generate fewer "
            f'tokens, or pass long_prompt="crop" to keep its last {room} '
            "tokens."
        )
    return np.maximum(lengths - room, 0)


def fit_padded(ids, lengths, max_length, max_new_tokens, long_prompt, pad_id):
    """`fit_prompts` on right-padded NumPy `ids` `(batch, width)` and their
    `lengths`: returns them fitted, the width cut to the longest prompt
    (padding never counts against the window)."""
    starts = crop_starts(lengths, max_length, max_new_tokens, long_prompt)
    lengths = (lengths - starts).astype(lengths.dtype)
    width = int(lengths.max())
    fitted = np.full((len(ids), width), pad_id, ids.dtype)
    for row, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        fitted[row, :length] = ids[row, start : start + length]
    return fitted, lengths


def parse_prompts(prompt_ids, prompt_lengths, pad_id):
    """Right-padded int32 `(batch, P)` ids and their lengths, as NumPy."""
    from keras import ops

    if prompt_lengths is None and isinstance(prompt_ids, (list, tuple)):
        if any(isinstance(row, numbers.Integral) for row in prompt_ids):
            raise ValueError(
                "`prompt_ids` must be a list of id lists (one per prompt), "
                "or (batch, length) ids. Received a flat list of ids: wrap "
                "one prompt as [ids]."
            )
        rows = [np.asarray(row).reshape(-1) for row in prompt_ids]
        for row in rows:
            if row.size and not np.issubdtype(row.dtype, np.integer):
                raise ValueError(
                    "`prompt_ids` must be integer ids. "
                    f"Received dtype {row.dtype}"
                )
        rows = [row.astype("int64") for row in rows]
        if not rows:
            raise ValueError("`prompt_ids` is empty: give at least one prompt.")
        lengths = np.array([len(row) for row in rows])
        ids = np.full((len(rows), max(lengths.max(), 1)), pad_id, "int64")
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
    else:
        ids = np.asarray(ops.convert_to_numpy(prompt_ids))
        if ids.ndim != 2:
            raise ValueError(
                "`prompt_ids` must be (batch, length) ids or a list of id "
                f"lists. Received: shape {ids.shape}"
            )
        lengths = (
            np.full((ids.shape[0],), ids.shape[1])
            if prompt_lengths is None
            else np.asarray(ops.convert_to_numpy(prompt_lengths)).reshape(-1)
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"`prompt_ids` must be integer ids. Received dtype {ids.dtype}"
        )
    if len(lengths) != len(ids):
        raise ValueError(
            f"`prompt_lengths` has {len(lengths)} entries for {len(ids)} "
            "prompts."
        )
    if lengths.min() < 1 or lengths.max() > ids.shape[1]:
        raise ValueError(
            "Every prompt needs at least one token (and at most the padded "
            f"width {ids.shape[1]}). Received lengths {lengths.tolist()}"
        )
    return ids.astype("int32"), lengths.astype("int32")


__all__ = ["fit_prompts"]
