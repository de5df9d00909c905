"""Export a Vision Transformer run as a SavedModel that classifies image
files.

    python -m zoo export runs/vit-digits --out exported/vit-digits

The SavedModel takes a batch of PNG or JPEG files (their bytes) and needs
only TensorFlow to load and run:

    import tensorflow as tf
    classify = tf.saved_model.load("exported/vit-digits").signatures[
        "serving_default"
    ]
    with open("digit.png", "rb") as f:
        out = classify(images=tf.constant([f.read()]))
    out["label"], out["class_index"], out["probabilities"]

Each image is converted to the run's channels (grey or RGB), resized to
its image size and given to the model in the pixel range it was trained
on (`INPUT_RANGE`). It should look like the training images: the digits
and MNIST are light strokes on a black background. The folder also holds
`assets.extra/run.json` (the training command and configuration).
"""

import json

from zoo import cli
from zoo import files
from zoo.vit import data as vit_data
from zoo.vit.evaluate import load_run

# The pixel values of black and white the model saw in training, per
# dataset: the loaders of `zoo.datasets` give uint8 images in 0..255 for
# all three (scikit-learn's 0..16 digits scaled by 255/16), and
# `zoo.vit.data.batches` only casts them to float32.
INPUT_RANGE = {
    "digits": (0.0, 255.0),
    "mnist": (0.0, 255.0),
    "cifar10": (0.0, 255.0),
}


def export_main(argv=None):
    parser = cli.run_parser(
        "export",
        "Write a SavedModel that maps PNG/JPEG files to classes.",
    )
    parser.add_argument(
        "--out", required=True, type=cli.EXPORT_DIR, help="SavedModel folder"
    )
    args = parser.parse_args(argv)

    _, record, cfg, model = load_run(args.run_dir)
    if cfg.dataset not in INPUT_RANGE:
        raise cli.UsageError(
            f"{args.run_dir} was trained on {cfg.dataset!r}, whose pixel "
            "range the exporter does not know (it knows "
            f"{sorted(INPUT_RANGE)})."
        )

    from keras_transformer.export import ImageClassifier

    classifier = ImageClassifier(
        model,
        vit_data.class_names(cfg.dataset),
        input_range=INPUT_RANGE[cfg.dataset],
    )
    run_json = {
        "command": record["command"],
        "config": record["config"],
        "labels": list(classifier.labels),
        "input_range": list(classifier.input_range),
    }
    out = args.out.absolute()
    with files.replacing(out) as temp:  # the whole folder, or none
        classifier.export(temp)
        (temp / "assets.extra").mkdir()
        (temp / "assets.extra" / "run.json").write_text(
            json.dumps(run_json), encoding="utf-8"
        )
    print(
        f"SavedModel in {out}: tf.saved_model.load(path)"
        '.signatures["serving_default"](images=tf.constant([png_bytes, ...]))'
        '["label"]'
    )
    return out
