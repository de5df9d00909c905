"""Train a translation Transformer on Multi30k or on your own corpus.

    python -m zoo train translation --dataset multi30k [--src de --tgt en]
    python -m zoo train translation --dataset custom --data 'corpus/*.tsv'

The family definition the run skeleton (`zoo.recipe`) trains and `zoo
tune` searches: data and tokenizers (learned once and kept with the run),
batches by length, the model, compile (the library's
`recipes.compile_transformer`), then the test set: loss, accuracy and
BLEU, decoded from the model and tokenizers in memory.
"""

from zoo import cli
from zoo import corpus
from zoo import corpus_files
from zoo import options
from zoo import recipe
from zoo import scan
from zoo.translation import config
from zoo.translation import data as tr_data
from zoo.translation import evaluate as tr_evaluate
from zoo.translation import stream as tr_stream


class TranslationFamily(recipe.Family):
    name = "translation"
    description = __doc__.splitlines()[0]
    config = config
    options = (
        ("--epochs", "epochs", cli.POSITIVE, "override the preset"),
        (
            "--batch-tokens",
            "batch_tokens",
            cli.POSITIVE,
            "override the preset's batch size",
        ),
    )
    record_keys = ("src", "tgt", "corpus")
    hypermodel = "TransformerHyperModel"
    # The trials share the data and tokenizers; decoding does not train.
    fixed_in_search = ("vocab_size", "max_pairs", "beam_size", "length_penalty")

    def add_arguments(self, parser):
        options.add_language_arguments(parser)
        # Multi30k's languages: de->en unless given (check_args).
        parser.set_defaults(src=None, tgt=None)
        parser.add_argument(
            "--no-bleu",
            action="store_true",
            help="skip decoding the test set after training",
        )
        corpus_files.add_arguments(
            parser,
            "UTF-8 TSV files (one pair a line: source<TAB>target; the first "
            "column is the source, the second the target)",
        )

    def check_args(self, args, parser):
        corpus_files.check_args(args, "pairs")
        if args.dataset == "custom":
            if args.src or args.tgt:
                parser.error(
                    "--src and --tgt choose Multi30k's languages; in a "
                    "--dataset custom corpus the first column of each line "
                    "is the source and the second the target"
                )
            return
        args.src, args.tgt = args.src or "de", args.tgt or "en"
        if args.src == args.tgt:
            parser.error(
                f"--src and --tgt are both {args.src!r}: give two languages"
            )

    def out_dir(self, args):
        if args.dataset == "custom":
            return "runs/translation-custom"
        return f"runs/translation-{args.src}-{args.tgt}"

    def title(self, preset, args):
        return f"Transformer {preset} {self.pair(args)}"

    def pair(self, args):
        """The direction printed: `de->en`, or `custom`."""
        return f"{args.src}->{args.tgt}" if args.src else "custom"

    def check_config(self, cfg, source):
        if cfg.dataset == "custom":
            tr_stream.check_config(cfg)

    def load_data(self, cfg, args):
        if cfg.dataset == "custom":
            streamed = corpus.Corpus.from_record(args.corpus)
            return scan.survey(streamed, args.seed)
        return tr_data.load_pairs(
            cfg, args.src, args.tgt, args.data_dir, args.seed
        )

    def prepare(self, folder, cfg, data, seed, verbose=True):
        if cfg.dataset == "custom":
            streams = tr_stream.prepare(folder, cfg, data, seed, verbose)
            return recipe.Prepared(*streams)
        tokenizers = tr_data.tokenizers_for(folder, cfg, data["train"], verbose)
        if verbose:
            print(
                f"Vocabularies: {tokenizers[0].vocab_size} source, "
                f"{tokenizers[1].vocab_size} target WordPiece tokens"
            )
        encoded = {}
        for split, (sources, targets) in data.items():
            *ids, dropped = tr_data.encode_pairs(
                tokenizers, sources, targets, cfg.max_length
            )
            if dropped and verbose:
                print(f"{split}: {dropped} pairs longer than {cfg.max_length}")
            encoded[split] = ids
        train = tr_data.batches(
            *encoded["train"], cfg.batch_tokens, shuffle_seed=seed
        )
        val = tr_data.batches(*encoded["val"], cfg.batch_tokens)
        if not len(train) or not len(val):
            raise cli.UsageError(
                f"--batch-tokens {cfg.batch_tokens} leaves no full training "
                f"batch of the {len(data['train'][0])} training pairs "
                f"(or no validation pair): give fewer tokens or more pairs."
            )
        return recipe.Prepared(
            train.dataset().repeat(),
            val.dataset(),
            len(train),
            {
                "tokenizers": tokenizers,
                "encoded": encoded,
                "tokens": train.tokens,
            },
        )

    def describe(self, model, cfg, prepared):
        about = "about " if cfg.dataset == "custom" else ""
        return (
            f"{model.count_params():,} parameters; "
            f"{prepared.steps_per_epoch} batches per epoch, "
            f"{about}{prepared.extra['tokens']:,} target tokens"
        )

    def build_model(self, cfg, prepared):
        from keras_transformer.models import Transformer

        source, target = prepared.extra["tokenizers"]
        model = Transformer(
            src_vocab_size=source.vocab_size,
            tgt_vocab_size=target.vocab_size,
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

    def compile_model(self, model, cfg, steps_per_epoch, jit_compile):
        from keras_transformer import recipes

        recipes.compile_transformer(
            model,
            warmup_steps=cfg.warmup_steps,
            lr_scale=cfg.lr_scale,
            label_smoothing=cfg.label_smoothing,
            jit_compile=jit_compile,
        )

    def finish(self, run, model, cfg, prepared, data, args):
        # Multi30k: the test set; your corpus: its validation lines.
        custom = cfg.dataset == "custom"
        split = "val" if custom else "test2016"
        prefix = split[:4]  # test_loss, val_loss
        if custom:
            scored = prepared.val
        else:
            scored = tr_data.batches(
                *prepared.extra["encoded"]["test2016"], cfg.batch_tokens
            ).dataset()
        scores = model.evaluate(scored, verbose=0, return_dict=True)
        run.save_model(model)
        bleu = {}
        if not args.no_bleu:
            decoder = model
            if args.strategy != "default":
                # Decoding compiles with XLA, which cannot place mirrored
                # variables: decode the saved copy instead.
                import keras

                decoder = keras.saving.load_model(run.model)
            if custom:
                pairs = tr_stream.validation_pairs(data.corpus)
            else:
                pairs = data["test2016"]
            bleu = tr_evaluate.test_bleu(
                run,
                cfg,
                decoder,
                prepared.extra["tokenizers"],
                pairs,
                pair=self.pair(args),
                split=split,
            )

        def results(history):
            return {
                f"{prefix}_loss": float(scores["loss"]),
                f"{prefix}_token_accuracy": float(scores["accuracy"]),
                "best_val_loss": min(history.get("val_loss", [float("nan")])),
                **bleu,
            }

        def line(metrics):
            return (
                f"{self.pair(args)}: {prefix} loss "
                f"{metrics[f'{prefix}_loss']:.3f}, token accuracy "
                f"{metrics[f'{prefix}_token_accuracy']:.4f}"
                + (f", BLEU {bleu[f'{split}_bleu']:.2f}" if bleu else "")
                + f"; training {metrics['train_seconds']:.0f} s"
            )

        return results, line


FAMILY = TranslationFamily()


def main(argv=None):
    return recipe.train(FAMILY, argv)


if __name__ == "__main__":
    main()
