"""Recurrent encoder-decoder presets: every hyper-parameter spelled out.

The data settings (`vocab_size`, `max_length`, `batch_tokens`,
`max_pairs`) and decoding (`beam_size`, `length_penalty`) are those of the
translation Transformer presets, so the two families read the same
WordPiece tokens in the same batches and are decoded alike.
"""

import dataclasses

# What the decoder reads of the source (`zoo.seq2seq.model.Seq2SeqLSTM`).
ATTENTION = ("none", "bahdanau")


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig:
    dataset: str  # multi30k
    attention: str  # none (a fixed context vector) | bahdanau
    vocab_size: int  # WordPiece vocabulary bound per language
    units: int  # LSTM width (each encoder direction, the decoder)
    embedding_dim: int
    dropout_rate: float
    max_length: int  # longest source or target, in WordPiece tokens
    epochs: int
    batch_tokens: int  # about this many target tokens per batch
    learning_rate: float  # Adam, constant
    clipnorm: float  # each gradient clipped to this norm
    label_smoothing: float
    max_pairs: int  # 0 = every training pair
    beam_size: int
    length_penalty: float  # GNMT alpha


PRESETS = {
    # The size of the published recurrent baselines on Multi30k
    # (bentrevett/pytorch-seq2seq notebooks 2 and 3: embeddings 256,
    # recurrent width 512), halved in width for a 2-core CPU.
    "multi30k-base": Seq2SeqConfig(
        dataset="multi30k",
        attention="bahdanau",
        vocab_size=8000,
        units=256,
        embedding_dim=256,
        dropout_rate=0.3,
        max_length=128,
        epochs=10,
        batch_tokens=3072,
        learning_rate=1e-3,
        clipnorm=1.0,
        label_smoothing=0.1,
        max_pairs=0,
        beam_size=4,
        length_penalty=0.6,
    ),
    # Seconds, not quality: a few hundred pairs, for tests.
    "multi30k-tiny": Seq2SeqConfig(
        dataset="multi30k",
        attention="bahdanau",
        vocab_size=400,
        units=32,
        embedding_dim=16,
        dropout_rate=0.1,
        max_length=48,
        epochs=2,
        batch_tokens=1024,
        learning_rate=3e-3,
        clipnorm=1.0,
        label_smoothing=0.1,
        max_pairs=300,
        beam_size=2,
        length_penalty=0.6,
    ),
}

DEFAULT_PRESET = {"multi30k": "multi30k-base"}
