"""Use a trained Vision Transformer run.

python -m zoo evaluate RUN_DIR           test accuracy of the saved model
python -m zoo predict RUN_DIR IMAGE...   class of each image file
"""

import pathlib

from zoo import cli
from zoo import recipe
from zoo import runs
from zoo.vit import data as vit_data


def load_run(run_dir):
    """`(run, record, cfg, model)` of a finished training run."""
    run = runs.RunDir(run_dir)
    record, cfg, model = run.open("vit")
    return run, record, cfg, model


def evaluate_main(argv=None):
    parser = cli.run_parser(
        "evaluate",
        "Test accuracy of a run's saved model.",
        data_dir=True,
        quantize=True,
    )
    args = parser.parse_args(argv)

    run, record, cfg, model = load_run(args.run_dir)
    model = cli.quantized(model, args.quantize)
    data = recipe.loaded(
        vit_data.load, cfg, args.data_dir or record.get("data_dir")
    )
    x_test, y_test = data[1]
    test = vit_data.batches(x_test, y_test, cfg.batch_size)
    model.compile(metrics=["accuracy"])
    results = model.evaluate(test, return_dict=True, verbose=0)
    accuracy = float(results["accuracy"])
    run.write_metrics(
        cli.labelled({"evaluate_test_accuracy": accuracy}, args.quantize)
    )
    kernels = f", {args.quantize} kernels" if args.quantize else ""
    print(
        f"{cfg.dataset} test accuracy: {accuracy:.4f} "
        f"({len(data[1][1])} images, model {run.model}{kernels})"
    )
    return accuracy


def read_image(path, channels):
    """Pixels `(height, width, channels)` uint8 of an image file, or a
    `UsageError` that says what is wrong with it."""
    import numpy as np
    from PIL import Image
    from PIL import UnidentifiedImageError

    path = pathlib.Path(path)
    if not path.is_file():
        raise cli.UsageError(f"No such image file: {path}")
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            pixels = np.asarray(image)
    except (UnidentifiedImageError, OSError) as e:
        raise cli.UsageError(
            f"{path} is not an image that Pillow can read ({e})."
        ) from None
    return pixels.reshape(pixels.shape[:2] + (channels,))


def predict_main(argv=None):
    import numpy as np

    parser = cli.run_parser(
        "predict",
        "Classify image files with a run's saved model.",
    )
    parser.add_argument("images", nargs="+", help="PNG/JPEG files")
    parser.add_argument(
        "--resize",
        action="store_true",
        help="scale images to the training size instead of refusing them",
    )
    args = parser.parse_args(argv)

    _, _, cfg, model = load_run(args.run_dir)
    names = vit_data.class_names(cfg.dataset)
    expected = (cfg.image_size, cfg.image_size)
    results = []
    for path in args.images:
        pixels = read_image(path, cfg.channels)
        if pixels.shape[:2] != expected:
            if not args.resize:
                raise cli.UsageError(
                    f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels; "
                    f"the model was trained on {expected[1]}x{expected[0]}. "
                    "Pass --resize to scale it."
                )
            from PIL import Image

            image = Image.fromarray(
                pixels.squeeze(-1) if cfg.channels == 1 else pixels
            )
            image = image.resize(expected, Image.BILINEAR)
            pixels = np.asarray(image).reshape(expected + (cfg.channels,))
        logits = model.predict(pixels[None].astype("float32"), verbose=0)[0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = int(probs.argmax())
        results.append((path, names[best], float(probs[best])))
        print(f"{path}: {names[best]} ({probs[best]:.1%})")
    return results
