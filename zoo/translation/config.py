"""Translation presets: every hyper-parameter spelled out."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TranslationConfig:
    dataset: str  # multi30k, or custom: your own corpus (--data)
    vocab_size: int  # WordPiece vocabulary bound per language
    num_layers: int  # encoder blocks = decoder blocks
    d_model: int
    num_heads: int
    d_ff: int
    dropout_rate: float
    norm_first: bool  # pre-norm blocks (stable at a high learning rate)
    max_length: int  # longest source or target, in WordPiece tokens
    epochs: int
    batch_tokens: int  # about this many target tokens per batch
    warmup_steps: int  # WarmupSchedule: linear up, then 1/sqrt(step)
    lr_scale: float  # WarmupSchedule scale: peak = scale/sqrt(d*warmup)
    label_smoothing: float
    max_pairs: int  # 0 = every training pair (tests use a few hundred)
    beam_size: int  # evaluate/translate/export decoding
    length_penalty: float  # GNMT alpha


PRESETS = {
    # The size of the published 36.5-BLEU reference (3+3 layers, d_model
    # 256, 8 heads, FFN 512; bentrevett/pytorch-seq2seq notebook 6).
    "multi30k-base": TranslationConfig(
        dataset="multi30k",
        vocab_size=8000,
        num_layers=3,
        d_model=256,
        num_heads=8,
        d_ff=512,
        dropout_rate=0.1,
        norm_first=True,
        max_length=128,
        epochs=12,
        batch_tokens=3072,
        warmup_steps=400,
        lr_scale=0.4,
        label_smoothing=0.1,
        max_pairs=0,
        beam_size=4,
        length_penalty=0.6,
    ),
    # Seconds, not quality: a few hundred pairs, for tests and a first look
    # (max_length 48 keeps an untrained model's decoding short).
    "multi30k-tiny": TranslationConfig(
        dataset="multi30k",
        vocab_size=400,
        num_layers=1,
        d_model=32,
        num_heads=2,
        d_ff=64,
        dropout_rate=0.1,
        norm_first=True,
        max_length=48,
        epochs=2,
        batch_tokens=1024,
        warmup_steps=20,
        lr_scale=1.0,
        label_smoothing=0.1,
        max_pairs=300,
        beam_size=2,
        length_penalty=0.6,
    ),
}

# Your own corpus (`--dataset custom --data GLOB`): the same models and
# training, on every line of it (max_pairs stays 0).
PRESETS["custom-base"] = dataclasses.replace(
    PRESETS["multi30k-base"], dataset="custom"
)
PRESETS["custom-tiny"] = dataclasses.replace(
    PRESETS["multi30k-tiny"], dataset="custom", max_pairs=0
)

DEFAULT_PRESET = {"multi30k": "multi30k-base", "custom": "custom-base"}
