"""Train a translation Transformer on Multi30k.

    python -m zoo train translation --dataset multi30k [--src de --tgt en]

Reads top to bottom: arguments, data and tokenizers (learned once and
saved with the run), batches, model, training with resume and
best-checkpoint keeping, then the test set: loss, accuracy and BLEU.
"""

import dataclasses
import sys

from zoo import cli
from zoo import datasets
from zoo import files
from zoo import runs
from zoo.translation import config as tr_config
from zoo.translation import data as tr_data

RESUME_KEYS = (
    "task",
    "preset",
    "config",
    "src",
    "tgt",
    "seed",
    "precision",
    "strategy",
)
TOKENIZER_DIRS = ("tokenizer_source", "tokenizer_target")


def add_arguments(parser):
    parser.add_argument(
        "--dataset", required=True, choices=sorted(tr_config.DEFAULT_PRESET)
    )
    parser.add_argument(
        "--src",
        default="de",
        choices=datasets.MULTI30K_LANGUAGES,
        help="source language",
    )
    parser.add_argument(
        "--tgt",
        default="en",
        choices=datasets.MULTI30K_LANGUAGES,
        help="target language",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(tr_config.PRESETS),
        help="named configuration (default: the dataset's own)",
    )
    parser.add_argument(
        "--epochs", type=cli.POSITIVE, help="override the preset"
    )
    parser.add_argument(
        "--batch-tokens",
        type=cli.POSITIVE,
        help="override the preset's batch size",
    )
    parser.add_argument(
        "--out",
        type=cli.OUT_DIR,
        help="run directory (default: runs/translation-SRC-TGT)",
    )
    parser.add_argument(
        "--no-bleu",
        action="store_true",
        help="skip decoding the test set after training",
    )
    runs.add_hparams_argument(parser)
    runs.add_extend_argument(parser, "epochs")
    return runs.add_common_arguments(parser)


def tokenizers_for(run, cfg, train_pairs, verbose=True):
    """The run's tokenizers: loaded if saved, else learned and saved."""
    from keras_transformer.text import WordPieceTokenizer

    paths = [run.path / name for name in TOKENIZER_DIRS]
    if all((p / "vocabulary.txt").is_file() for p in paths):
        return tuple(WordPieceTokenizer.load(p) for p in paths)
    tokenizers = tr_data.build_tokenizers(cfg, *train_pairs, verbose=verbose)
    for tokenizer, path in zip(tokenizers, paths, strict=True):
        with files.replacing(path) as temp:
            tokenizer.save(temp)
    return tokenizers


def build_model(cfg, tokenizers):
    from keras_transformer.models import Transformer

    model = Transformer(
        src_vocab_size=tokenizers[0].vocab_size,
        tgt_vocab_size=tokenizers[1].vocab_size,
        num_layers=cfg.num_layers,
        d_model=cfg.d_model,
        num_heads=cfg.num_heads,
        d_ff=cfg.d_ff,
        dropout_rate=cfg.dropout_rate,
        max_length=cfg.max_length,
        norm_first=cfg.norm_first,
        name="transformer",
    )
    model.build()
    return model


def compile_model(model, cfg, jit):
    import keras

    from keras_transformer.losses import MaskedSparseCategoricalCrossentropy
    from keras_transformer.metrics import MaskedAccuracy
    from keras_transformer.schedules import WarmupSchedule

    schedule = WarmupSchedule(
        cfg.d_model, warmup_steps=cfg.warmup_steps, scale=cfg.lr_scale
    )
    optimizer = keras.optimizers.Adam(
        schedule, beta_1=0.9, beta_2=0.98, epsilon=1e-9, clipnorm=1.0
    )
    model.compile(
        optimizer=optimizer,
        loss=MaskedSparseCategoricalCrossentropy(
            pad_id=0, label_smoothing=cfg.label_smoothing
        ),
        metrics=[MaskedAccuracy(pad_id=0, name="accuracy")],
        jit_compile=jit,
    )


def main(argv=None):
    parser = add_arguments(
        cli.ArgumentParser(
            prog="python -m zoo train translation",
            description=__doc__.splitlines()[0],
        )
    )
    args = parser.parse_args(argv)
    if args.src == args.tgt:
        parser.error(
            f"--src and --tgt are both {args.src!r}: give two languages"
        )

    # Every check before the first write: arguments, settings, folder.
    preset, tuned = runs.hparams_preset(args, "translation")
    preset, cfg = tr_config.resolve(
        args.dataset,
        preset,
        **runs.overrides(
            tuned,
            epochs=args.epochs,
            batch_tokens=args.batch_tokens,
        ),
    )
    runs.check_tuned(cfg, tuned, args.hparams)
    run = runs.RunDir(args.out or f"runs/translation-{args.src}-{args.tgt}")
    record = {
        "task": "translation",
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        "src": args.src,
        "tgt": args.tgt,
        "seed": args.seed,
        "precision": args.precision,
        "strategy": args.strategy,
        "data_dir": args.data_dir and str(args.data_dir),
        "command": runs.command_line(),
    }
    status = run.check(record, RESUME_KEYS, args.extend, "epochs")
    if status == "finished":
        return run.finished_metrics()
    pairs = runs.load_data(
        tr_data.load_pairs, cfg, args.src, args.tgt, args.data_dir, args.seed
    )
    runs.configure_cpu_replicas(args.cpu_replicas)

    import keras

    from zoo import checkpoints
    from zoo.translation import evaluate as tr_evaluate

    with run.starting(record, extend=status == "extend"):
        print(f"Run directory: {run.path}\nPreset {preset}: {cfg}")
        keras.utils.set_random_seed(args.seed)
        keras.config.set_dtype_policy(args.precision)
        tokenizers = tokenizers_for(run, cfg, pairs["train"])
        print(
            f"Vocabularies: {args.src} {tokenizers[0].vocab_size}, "
            f"{args.tgt} {tokenizers[1].vocab_size} WordPiece tokens"
        )
        encoded = {}
        for split, (sources, targets) in pairs.items():
            *ids, dropped = tr_data.encode_pairs(
                tokenizers, sources, targets, cfg.max_length
            )
            if dropped:
                print(f"{split}: {dropped} pairs longer than {cfg.max_length}")
            encoded[split] = ids
        train = tr_data.batches(
            *encoded["train"], cfg.batch_tokens, shuffle_seed=args.seed
        )
        val = tr_data.batches(*encoded["val"], cfg.batch_tokens)
        if not len(train) or not len(val):
            raise cli.UsageError(
                f"--batch-tokens {cfg.batch_tokens} leaves no full training "
                f"batch of the {len(pairs['train'][0])} training pairs "
                f"(or no validation pair): give fewer tokens or more pairs."
            )
        steps = len(train)
        if args.steps_per_epoch:
            steps = min(steps, args.steps_per_epoch)

        strategy = runs.make_strategy(args.strategy)
        with strategy.scope():
            model = build_model(cfg, tokenizers)
            jit = not args.no_jit and args.strategy == "default"
            compile_model(model, cfg, jit)
            state = checkpoints.restore(run, model)
        print(
            f"{model.count_params():,} parameters; {steps} batches per "
            f"epoch, {train.tokens:,} target tokens"
        )

    callbacks = runs.training_callbacks(run, state, "val_loss", 0)
    model.fit(
        train.dataset().repeat(),
        validation_data=val.dataset(),
        epochs=cfg.epochs,
        initial_epoch=state["epoch"],
        steps_per_epoch=steps,
        shuffle=False,  # the batches are shuffled by plan, per epoch
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    train_seconds = callbacks[0].train_seconds
    best = callbacks[0].best_weights()
    if best is not None:
        model.load_weights(best)
    test = tr_data.batches(*encoded["test2016"], cfg.batch_tokens)
    test_loss, test_accuracy = model.evaluate(test.dataset(), verbose=0)
    run.save_model(model)

    metrics, _ = runs.record_results(
        run,
        model,
        record,
        train_seconds,
        state["epoch"],
        lambda history: {
            "test_loss": float(test_loss),
            "test_token_accuracy": float(test_accuracy),
            "best_val_loss": min(history.get("val_loss", [float("nan")])),
        },
        title=f"Transformer {preset} {args.src}->{args.tgt}",
    )
    print(
        f"test loss {test_loss:.3f}, token accuracy {test_accuracy:.4f}; "
        f"training {train_seconds:.0f} s"
    )
    if not args.no_bleu:
        metrics = tr_evaluate.evaluate_run(run.path, args.data_dir)
    return metrics


if __name__ == "__main__":
    main()
