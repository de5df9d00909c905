"""Train a character-level GPT on Tiny Shakespeare or on your own text.

    python -m zoo train gpt --dataset shakespeare
    python -m zoo train gpt --dataset custom --data 'books/*.txt'

The family definition the run skeleton (`zoo.recipe`) trains and `zoo
tune` searches: the character tokenizer (saved with the run), batches of
random windows, the model, compile (the library's `recipes.compile_gpt`:
AdamW with warm-up and cosine decay), training by "epochs" of
`eval_interval` steps, then the validation loss over the whole split and
a sample of generated text.
"""

from zoo import cli
from zoo import corpus
from zoo import corpus_files
from zoo import files
from zoo import recipe
from zoo import scan
from zoo.gpt import config
from zoo.gpt import data as gpt_data
from zoo.gpt import evaluate as gpt_evaluate
from zoo.gpt import stream as gpt_stream

SAMPLE_PROMPT = "ROMEO:"


class GPTFamily(recipe.Family):
    name = "gpt"
    description = __doc__.splitlines()[0]
    config = config
    options = (
        (
            "--iterations",
            "iterations",
            cli.POSITIVE,
            "override the preset (a multiple of its eval_interval)",
        ),
        ("--batch-size", "batch_size", cli.POSITIVE, "override the preset"),
    )
    length = "iterations"
    record_keys = ("corpus",)
    hypermodel = "GPTHyperModel"
    fixed_in_search = ("eval_interval",)  # an epoch of every trial

    def add_arguments(self, parser):
        corpus_files.add_arguments(parser, "UTF-8 text files")

    def check_args(self, args, parser):
        corpus_files.check_args(args, "text")

    def title(self, preset, args):
        return f"GPT {preset}"

    def check_config(self, cfg, source):
        if cfg.iterations % cfg.eval_interval:
            raise cli.UsageError(
                f"--iterations {cfg.iterations} must be a multiple of the "
                f"preset's eval_interval ({cfg.eval_interval})."
            )

    def describe(self, model, cfg, prepared):
        return (
            f"{model.count_params():,} parameters; {self.epochs(cfg)} x "
            f"{prepared.steps_per_epoch} steps of {cfg.batch_size} x "
            f"{cfg.context} tokens"
        )

    def epochs(self, cfg):
        return cfg.iterations // cfg.eval_interval

    def steps_per_length(self, cfg):
        return cfg.eval_interval

    def load_data(self, cfg, args):
        if cfg.dataset == "custom":
            streamed = corpus.Corpus.from_record(args.corpus)
            return scan.survey(streamed, args.seed)
        return gpt_data.load(cfg, args.data_dir)

    def prepare(self, folder, cfg, data, seed, verbose=True):
        if cfg.dataset == "custom":
            train, val, tokenizer = gpt_stream.prepare(
                folder, cfg, data, seed, verbose
            )
            extra = {"tokenizer": tokenizer}
            return recipe.Prepared(train, val, cfg.eval_interval, extra)
        tokenizer, ids = gpt_data.encode_text(folder, data, verbose)
        for split, split_ids in ids.items():
            if len(split_ids) <= cfg.context:
                raise cli.UsageError(
                    f"The {split} text has {len(split_ids)} characters, "
                    f"fewer than a window of context {cfg.context} + 1."
                )
        return recipe.Prepared(
            gpt_data.random_windows(
                ids["train"], cfg.context, cfg.batch_size, seed
            ),
            gpt_data.all_windows(ids["val"], cfg.context),
            cfg.eval_interval,
            {"tokenizer": tokenizer, "ids": ids},
        )

    def build_model(self, cfg, prepared):
        from keras_transformer.models import GPT

        model = GPT(
            vocab_size=prepared.extra["tokenizer"].vocab_size,
            max_length=cfg.context,
            num_layers=cfg.num_layers,
            d_model=cfg.d_model,
            num_heads=cfg.num_heads,
            d_ff=cfg.d_ff,
            dropout_rate=cfg.dropout_rate,
            tie_embeddings=cfg.tie_embeddings,
            name="gpt",
        )
        model.build()
        return model

    def compile_model(self, model, cfg, steps_per_epoch, jit_compile):
        from keras_transformer import recipes

        recipes.compile_gpt(
            model,
            learning_rate=cfg.learning_rate,
            min_learning_rate=cfg.min_learning_rate,
            weight_decay=cfg.weight_decay,
            warmup_steps=cfg.warmup_iters,
            total_steps=cfg.iterations,
            beta_2=cfg.beta_2,
            grad_clip=cfg.grad_clip,
            label_smoothing=cfg.label_smoothing,
            jit_compile=jit_compile,
        )

    def config_changes(self, cfg, values):
        changes = super().config_changes(cfg, values)
        if "learning_rate" in values and "min_learning_rate" not in values:
            # The cosine ends at the preset's fraction of the peak.
            ratio = cfg.min_learning_rate / cfg.learning_rate
            changes["min_learning_rate"] = values["learning_rate"] * ratio
        return changes

    def finish(self, run, model, cfg, prepared, data, args):
        val = model.evaluate(prepared.val, verbose=0, return_dict=True)
        run.save_model(model)
        tokenizer = prepared.extra["tokenizer"]
        if cfg.dataset == "custom":
            windows = sum(int(y.shape[0]) for _, y in prepared.val)
            characters = tokenizer.characters
            prompt = "\n" if "\n" in characters else characters[0]
        else:
            windows = (len(prepared.extra["ids"]["val"]) - 1) // cfg.context
            prompt = SAMPLE_PROMPT
        val_tokens = windows * cfg.context
        sample = gpt_evaluate.generate_text(
            model, tokenizer, prompt, 300, temperature=0.8, top_k=40
        )
        files.write_text(run.path / "sample.txt", sample + "\n")

        def results(history):
            return {
                "val_loss": float(val["loss"]),
                "val_accuracy": float(val["accuracy"]),
                "val_tokens": int(val_tokens),
            }

        def line(metrics):
            return (
                f"validation loss {metrics['val_loss']:.4f} nats per "
                "character over the whole split; training "
                f"{metrics['train_seconds']:.0f} s\n--- sample ---\n{sample}"
            )

        return results, line


FAMILY = GPTFamily()


def main(argv=None):
    return recipe.train(FAMILY, argv)


if __name__ == "__main__":
    main()
