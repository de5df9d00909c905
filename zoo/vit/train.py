"""Train a Vision Transformer: `python -m zoo train vit --dataset digits`.

The family definition the run skeleton (`zoo.recipe`) trains and `zoo
tune` searches: options, data pipelines, model, compile (the library's
`recipes.compile_vision_transformer`), then the test evaluation and the
attention plot.
"""

from zoo import cli
from zoo import recipe
from zoo.vit import config
from zoo.vit import data as vit_data


class ViTFamily(recipe.Family):
    name = "vit"
    description = __doc__.splitlines()[0]
    config = config
    options = (
        ("--epochs", "epochs", cli.POSITIVE, "override the preset"),
        ("--batch-size", "batch_size", cli.POSITIVE, "override the preset"),
        (
            "--learning-rate",
            "learning_rate",
            cli.number(0.0, low_open=True),
            "override the preset's peak rate",
        ),
        ("--dropout-rate", "dropout_rate", cli.RATE, "override the preset"),
    )
    # Validation loss, not accuracy: on a few hundred images accuracy jumps
    # between epochs and picks a lucky one.
    monitor = "val_loss"
    hypermodel = "VisionTransformerHyperModel"
    fixed_in_search = (
        "image_size", "channels", "num_classes", "patch_size",
        "validation_size", "translate_fill",
    )  # fmt: skip

    def title(self, preset, args):
        return f"ViT {preset}"

    def describe(self, model, cfg, prepared):
        return (
            f"{model.count_params():,} parameters, "
            f"{prepared.steps_per_epoch} steps per epoch"
        )

    def load_data(self, cfg, args):
        return vit_data.load(cfg, args.data_dir)

    def check_data(self, cfg, data):
        train_images = len(data[0][1]) - cfg.validation_size
        if cfg.batch_size > train_images:
            raise cli.UsageError(
                f"--batch-size {cfg.batch_size} is more than the "
                f"{train_images} training images of {cfg.dataset}. Give at "
                f"most {train_images}."
            )

    def prepare(self, folder, cfg, data, seed, verbose=True):
        train, val, test, steps = vit_data.make_pipelines(
            cfg, data, seed, cfg.batch_size
        )
        return recipe.Prepared(train, val, steps, {"test": test})

    def build_model(self, cfg, prepared):
        from keras_transformer.models import VisionTransformer

        model = VisionTransformer(
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
            num_classes=cfg.num_classes,
            num_layers=cfg.num_layers,
            d_model=cfg.d_model,
            num_heads=cfg.num_heads,
            d_ff=cfg.d_ff,
            dropout_rate=cfg.dropout_rate,
            channels=cfg.channels,
            name="vision_transformer",
        )
        model.build((None, cfg.image_size, cfg.image_size, cfg.channels))
        return model

    def compile_model(self, model, cfg, steps_per_epoch, jit_compile):
        from keras_transformer import recipes

        total = steps_per_epoch * cfg.epochs
        recipes.compile_vision_transformer(
            model,
            learning_rate=cfg.learning_rate,
            weight_decay=cfg.weight_decay,
            warmup_steps=int(total * cfg.warmup_epochs / cfg.epochs),
            total_steps=total,
            label_smoothing=cfg.label_smoothing,
            jit_compile=jit_compile,
        )

    def finish(self, run, model, cfg, prepared, data, args):
        test = model.evaluate(
            prepared.extra["test"], verbose=0, return_dict=True
        )
        run.save_model(model)
        x_test, y_test = data[1]
        save_attention_plot(
            model, run, x_test, y_test, vit_data.class_names(cfg.dataset)
        )

        def results(history):
            return {
                "test_accuracy": float(test["accuracy"]),
                "test_loss": float(test["loss"]),
                "best_val_loss": min(history.get("val_loss", [float("nan")])),
                "final_val_accuracy": history.get("val_accuracy", [0.0])[-1],
            }

        def line(metrics):
            return (
                f"test accuracy: {metrics['test_accuracy']:.4f} "
                f"({len(y_test)} images), training "
                f"{metrics['train_seconds']:.0f} s"
            )

        return results, line


def save_attention_plot(model, run, test_images, test_labels, class_names):
    from keras_transformer.visualization import plot_attention_overlays

    images = test_images[:8]
    maps = model.class_token_attention(images.astype("float32"))
    predicted = model.predict(images.astype("float32"), verbose=0).argmax(-1)
    titles = [
        f"{class_names[p]} (true {class_names[t]})"
        for p, t in zip(predicted, test_labels[:8], strict=True)
    ]
    plot_attention_overlays(
        images,
        maps,
        titles,
        run.path / "attention_maps.png",
        title="Class-token attention, last layer (mean over heads)",
    )


FAMILY = ViTFamily()


def main(argv=None):
    return recipe.train(FAMILY, argv)


if __name__ == "__main__":
    main()
