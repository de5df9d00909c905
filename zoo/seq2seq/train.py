"""Train the recurrent baseline: an LSTM encoder-decoder on Multi30k.

    python -m zoo train seq2seq --dataset multi30k --attention none
    python -m zoo train seq2seq --dataset multi30k --attention bahdanau

The translation family with another model: the same data, WordPiece
tokenizers (learned once and kept with the run), batches by length, test
loss, accuracy and BLEU (`zoo.translation`), so its rows compare with the
Transformer's. The model is `zoo.seq2seq.model.Seq2SeqLSTM`, compiled with
Adam at a constant rate, gradients clipped, and the library's masked loss
and metrics.
"""

from zoo import cli
from zoo import recipe
from zoo.seq2seq import config
from zoo.translation import train as tr_train

ATTENTION_TYPE = cli.choice("attention", config.ATTENTION)


class Seq2SeqFamily(tr_train.TranslationFamily):
    name = "seq2seq"
    description = __doc__.splitlines()[0]
    config = config
    options = (
        ("--epochs", "epochs", cli.POSITIVE, "override the preset"),
        (
            "--attention",
            "attention",
            ATTENTION_TYPE,
            "none (one context vector for the whole source) or bahdanau "
            "(override the preset's)",
        ),
        (
            "--batch-tokens",
            "batch_tokens",
            cli.POSITIVE,
            "override the preset's batch size",
        ),
    )
    hypermodel = ""
    fixed_in_search = ()

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # Multi30k only: no --data corpus (the preset names the dataset).
        parser.set_defaults(data=None, val_data=None)

    def check_args(self, args, parser):
        super().check_args(args, parser)
        # The decoder's loop runs as many steps as each batch's targets are
        # long, which XLA cannot differentiate (it needs a fixed number of
        # iterations): this family trains without XLA.
        args.no_jit = True

    def out_dir(self, args):
        attention = getattr(args, "attention", None) or "ATTENTION"
        if attention == "ATTENTION" and args.dataset != "DATASET":
            preset = args.preset or config.DEFAULT_PRESET[args.dataset]
            attention = config.PRESETS[preset].attention
        return f"runs/seq2seq-{attention}-{args.src}-{args.tgt}"

    def title(self, preset, args):
        return f"LSTM seq2seq {preset} {self.pair(args)}"

    def describe(self, model, cfg, prepared):
        return (
            f"{model.count_params():,} parameters (attention "
            f"{cfg.attention}); {prepared.steps_per_epoch} batches per "
            f"epoch, {prepared.extra['tokens']:,} target tokens"
        )

    def build_model(self, cfg, prepared):
        from zoo.seq2seq.model import Seq2SeqLSTM

        source, target = prepared.extra["tokenizers"]
        return Seq2SeqLSTM(
            source.vocab_size,
            target.vocab_size,
            units=cfg.units,
            embedding_dim=cfg.embedding_dim,
            attention=cfg.attention,
            dropout_rate=cfg.dropout_rate,
            max_length=cfg.max_length,
            name="seq2seq",
        )

    def compile_model(self, model, cfg, steps_per_epoch, jit_compile):
        import keras

        from keras_transformer.losses import MaskedSparseCategoricalCrossentropy
        from keras_transformer.metrics import MaskedAccuracy
        from keras_transformer.metrics import Perplexity

        model.compile(
            optimizer=keras.optimizers.Adam(
                cfg.learning_rate, clipnorm=cfg.clipnorm
            ),
            loss=MaskedSparseCategoricalCrossentropy(
                label_smoothing=cfg.label_smoothing
            ),
            metrics=[
                MaskedAccuracy(name="accuracy"),
                Perplexity(name="perplexity"),
            ],
            jit_compile=jit_compile,
        )


FAMILY = Seq2SeqFamily()


def main(argv=None):
    return recipe.train(FAMILY, argv)


if __name__ == "__main__":
    main()
