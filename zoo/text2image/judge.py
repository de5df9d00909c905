"""How good a text-to-image run's images are, as a classifier sees them:
`python -m zoo evaluate RUN_DIR --classifier VIT_RUN`.

For each digit, images are generated from the held-out caption wording and
classified by a zoo ViT trained on MNIST (the role CLIP had for DALL-E):

- match: the share classified as the digit asked for, without reranking
  and with it (the best `per_digit` of `candidates` times as many);
- diversity: the mean pairwise distance between the images of one
  caption, next to the same for real test images of that digit (pixels in
  [0, 1], distances divided by the square root of the pixel count);
- the classifier's own accuracy on the real test images, and the image
  tokenizer's reconstruction error, as references.
"""

import json
import time

import numpy as np

from zoo import cli
from zoo import files
from zoo.text2image import captions
from zoo.text2image.evaluate import classify
from zoo.text2image.evaluate import generate
from zoo.text2image.evaluate import load_classifier
from zoo.text2image.evaluate import load_run
from zoo.text2image.evaluate import reconstruction_error
from zoo.text2image.evaluate import rerank

CHUNK = 200  # images generated per call


def _generate(model, tokenizer, vocab, text, count, seed):
    return np.concatenate(
        [
            generate(
                model,
                tokenizer,
                vocab,
                text,
                min(CHUNK, count - i),
                seed=seed + i,
            )  # fmt: skip
            for i in range(0, count, CHUNK)
        ]
    )


def diversity(images):
    """Mean pairwise Euclidean distance, pixels in [0, 1], divided by the
    square root of the number of pixels."""
    flat = images.reshape(len(images), -1).astype("float64") / 255.0
    squared = (flat * flat).sum(1)
    d2 = squared[:, None] + squared[None] - 2 * flat @ flat.T
    pairs = np.sqrt(np.clip(d2[np.triu_indices(len(flat), 1)], 0, None))
    return float(pairs.mean() / np.sqrt(flat.shape[1]))


def judge(model, tokenizer, vocab, classifier, size, cfg, args, record):
    from zoo import recipe
    from zoo.text2image.train import load_images

    data_dir = args.data_dir or record.get("data_dir")
    _, (x_test, y_test) = recipe.loaded(load_images, cfg, data_dir)
    real_accuracy = float(
        (classify(classifier, size, x_test).argmax(1) == y_test).mean()
    )
    start = time.perf_counter()
    rows = []
    for digit in range(10):
        text = captions.caption(digit, captions.HELD_OUT_TEMPLATE)
        seed = args.seed + 100_000 * digit
        images = _generate(model, tokenizer, vocab, text, args.per_digit, seed)
        predicted = classify(classifier, size, images).argmax(1)
        count = args.per_digit * args.candidates
        pool = _generate(model, tokenizer, vocab, text, count, seed + 50_000)
        kept = rerank(classifier, size, pool, digit, args.per_digit)
        reranked = classify(classifier, size, kept).argmax(1)
        real = x_test[y_test == digit][: args.per_digit]
        rows.append(
            {
                "digit": digit,
                "caption": text,
                "match": float((predicted == digit).mean()),
                "match_reranked": float((reranked == digit).mean()),
                "diversity": diversity(images),
                "real_diversity": diversity(real),
            }
        )
        row = rows[-1]
        print(
            f"{text!r}: {row['match']:.0%} classified as {digit}, "
            f"{row['match_reranked']:.0%} after reranking "
            f"{args.candidates} candidates; diversity "
            f"{row['diversity']:.3f} (real {row['real_diversity']:.3f})"
        )
    seconds = time.perf_counter() - start
    result = {
        "images": 10 * args.per_digit,
        "candidates": args.candidates,
        "match": float(np.mean([r["match"] for r in rows])),
        "match_reranked": float(np.mean([r["match_reranked"] for r in rows])),
        "diversity": float(np.mean([r["diversity"] for r in rows])),
        "real_diversity": float(np.mean([r["real_diversity"] for r in rows])),
        "classifier_test_accuracy": real_accuracy,
        **reconstruction_error(tokenizer, x_test),
        "seconds": round(seconds, 1),
        "per_digit": rows,
    }
    print(
        f"{result['images']} images: {result['match']:.1%} match their "
        f"caption, {result['match_reranked']:.1%} after reranking; "
        f"diversity {result['diversity']:.3f} (real "
        f"{result['real_diversity']:.3f}); the classifier is "
        f"{real_accuracy:.1%} right on real test digits; {seconds:.0f} s"
    )
    return result


def evaluate_main(argv=None):
    parser = cli.run_parser(
        "evaluate",
        "Judge a text-to-image run with a zoo ViT classifier.",
        data_dir=True,
    )
    parser.add_argument("--classifier", required=True,
                        help="a zoo ViT run trained on MNIST")  # fmt: skip
    parser.add_argument("--per-digit", type=cli.POSITIVE, default=100)
    parser.add_argument("--candidates", type=cli.POSITIVE, default=8)
    parser.add_argument("--seed", type=cli.NON_NEGATIVE, default=0)
    args = parser.parse_args(argv)
    run, record, cfg, model, tokenizer, vocab = load_run(args.run_dir)
    classifier, size = load_classifier(args.classifier, cfg.image_size)
    result = judge(model, tokenizer, vocab, classifier, size, cfg, args, record)
    files.write_text(
        run.path / "judged.json", json.dumps(result, indent=1) + "\n"
    )
    return result
