"""GPT presets: every hyper-parameter spelled out."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    dataset: str  # shakespeare, or custom: your own text (--data)
    context: int  # tokens per training window (the model's max_length)
    num_layers: int
    d_model: int
    num_heads: int
    d_ff: int
    dropout_rate: float
    tie_embeddings: bool
    iterations: int  # optimizer steps in all
    eval_interval: int  # steps per "epoch": validation after each
    batch_size: int  # windows per step
    learning_rate: float  # AdamW peak, after warmup_iters
    min_learning_rate: float  # cosine decay ends here at `iterations`
    warmup_iters: int
    weight_decay: float  # on matrices and embeddings only
    beta_2: float
    grad_clip: float  # global norm
    label_smoothing: float


PRESETS = {
    # nanoGPT's CPU baseline for shakespeare_char, exactly: 4 layers, 4
    # heads, 128 wide, context 64, batch 12, 2,000 iterations, dropout 0
    # (README of karpathy/nanoGPT: val loss about 1.88 in about 3 minutes).
    # nanoGPT's layers have no biases (bias=False); ours do.
    "shakespeare-nanogpt-cpu": GPTConfig(
        dataset="shakespeare",
        context=64,
        num_layers=4,
        d_model=128,
        num_heads=4,
        d_ff=512,
        dropout_rate=0.0,
        tie_embeddings=True,  # nanoGPT ties them too
        iterations=2000,
        eval_interval=250,
        batch_size=12,
        learning_rate=1e-3,
        min_learning_rate=1e-4,
        warmup_iters=100,
        weight_decay=0.1,
        beta_2=0.99,
        grad_clip=1.0,
        label_smoothing=0.0,
    ),
    # The same model in nanoGPT's 3-minute budget, spent on more text:
    # batches of 32 windows instead of 12 (2.7x the characters seen).
    "shakespeare-cpu-3min": GPTConfig(
        dataset="shakespeare",
        context=64,
        num_layers=4,
        d_model=128,
        num_heads=4,
        d_ff=512,
        dropout_rate=0.0,
        tie_embeddings=True,
        iterations=2000,
        eval_interval=250,
        batch_size=32,
        learning_rate=1e-3,
        min_learning_rate=1e-4,
        warmup_iters=100,
        weight_decay=0.1,
        beta_2=0.99,
        grad_clip=1.0,
        label_smoothing=0.0,
    ),
    # At most an hour of a 2-core CPU: a deeper, wider model over windows
    # of 128 characters, with dropout as it now sees the text about 30
    # times (7,000 steps of 32 x 128 characters, about 29M in all).
    "shakespeare-cpu-60min": GPTConfig(
        dataset="shakespeare",
        context=128,
        num_layers=6,
        d_model=192,
        num_heads=6,
        d_ff=768,
        dropout_rate=0.1,
        tie_embeddings=True,
        iterations=7000,
        eval_interval=500,
        batch_size=32,
        learning_rate=1e-3,
        min_learning_rate=1e-4,
        warmup_iters=200,
        weight_decay=0.1,
        beta_2=0.99,
        grad_clip=1.0,
        label_smoothing=0.0,
    ),
    # Seconds, not quality: for tests and a first look.
    "shakespeare-tiny": GPTConfig(
        dataset="shakespeare",
        context=32,
        num_layers=1,
        d_model=32,
        num_heads=2,
        d_ff=64,
        dropout_rate=0.0,
        tie_embeddings=False,
        iterations=20,
        eval_interval=10,
        batch_size=8,
        learning_rate=3e-3,
        min_learning_rate=3e-4,
        warmup_iters=2,
        weight_decay=0.1,
        beta_2=0.99,
        grad_clip=1.0,
        label_smoothing=0.0,
    ),
}

# Your own text (`--dataset custom --data GLOB`): the same models and
# training.
PRESETS["custom-nanogpt-cpu"] = dataclasses.replace(
    PRESETS["shakespeare-nanogpt-cpu"], dataset="custom"
)
PRESETS["custom-tiny"] = dataclasses.replace(
    PRESETS["shakespeare-tiny"], dataset="custom"
)

DEFAULT_PRESET = {
    "shakespeare": "shakespeare-nanogpt-cpu",
    "custom": "custom-nanogpt-cpu",
}
