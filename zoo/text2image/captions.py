"""Captions and the one token sequence a text-to-image GPT reads.

A digit's caption comes from one of the training templates ("a handwritten
seven", "the digit seven", ...); one more wording, made of the same words
in a new order, is kept for evaluation only, so that the model is judged on
a phrasing it never saw.

The sequence: the caption's word ids, left-padded to `CAPTION_LENGTH`
(so that the image always starts at the same position), then
`BOS_IMAGE`, then the image's codes row by row. One vocabulary holds all
three: the special ids, then the caption words, then the image codes
shifted by `Vocabulary.image_offset`.
"""

import numpy as np

DIGITS = (
    "zero", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine",
)  # fmt: skip
TRAIN_TEMPLATES = (
    "a handwritten {}",
    "the digit {}",
    "a picture of a {}",
    "{} written by hand",
    "a handwritten digit {}",
)
# Held out: only known words, in an order no training caption has.
HELD_OUT_TEMPLATE = "a picture of the handwritten digit {}"

PAD, BOS_IMAGE, UNKNOWN = 0, 1, 2
SPECIALS = ("[PAD]", "[BOS_IMAGE]", "[UNK]")
CAPTION_LENGTH = 8  # words; the longest caption has 7


def caption(digit, template):
    return template.format(DIGITS[digit])


def train_captions(labels, seed=0):
    """One caption per label, each from a training template drawn at
    random."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(TRAIN_TEMPLATES), len(labels))
    return [
        caption(int(d), TRAIN_TEMPLATES[t])
        for d, t in zip(labels, picks, strict=True)
    ]


class Vocabulary:
    """Word ids for captions and the shifted ids of image codes."""

    def __init__(self, num_codes):
        words = set()
        for template in (*TRAIN_TEMPLATES, HELD_OUT_TEMPLATE):
            for digit in range(10):
                words.update(caption(digit, template).split())
        self.words = (*SPECIALS, *sorted(words))
        self.index = {w: i for i, w in enumerate(self.words)}
        self.num_codes = int(num_codes)
        self.image_offset = len(self.words)
        self.size = self.image_offset + self.num_codes

    def encode_caption(self, text):
        """Word ids of `text`, left-padded to `CAPTION_LENGTH`; a word
        outside the vocabulary is `UNKNOWN`, a caption too long an
        error."""
        ids = [self.index.get(w, UNKNOWN) for w in text.lower().split()]
        if not ids:
            raise ValueError("The caption is empty: describe the image.")
        if len(ids) > CAPTION_LENGTH:
            raise ValueError(
                f"The caption {text!r} has {len(ids)} words; at most "
                f"{CAPTION_LENGTH} fit."
            )
        return [PAD] * (CAPTION_LENGTH - len(ids)) + ids

    def unknown_words(self, text):
        return [w for w in text.lower().split() if w not in self.index]

    def sequences(self, texts, codes):
        """`(n, CAPTION_LENGTH + 1 + cells)` int32: caption, BOS_IMAGE,
        the codes `(n, rows, cols)` row by row, shifted."""
        codes = np.asarray(codes, "int64").reshape(len(texts), -1)
        if codes.min() < 0 or codes.max() >= self.num_codes:
            raise ValueError(
                f"Image codes must be in [0, {self.num_codes}). Received "
                f"values in [{codes.min()}, {codes.max()}]"
            )
        captions = np.array([self.encode_caption(t) for t in texts])
        bos = np.full((len(texts), 1), BOS_IMAGE)
        out = np.concatenate([captions, bos, codes + self.image_offset], 1)
        return out.astype("int32")

    def prompt(self, text):
        """The ids a generation starts from: the caption and BOS_IMAGE."""
        return np.array([[*self.encode_caption(text), BOS_IMAGE]], "int32")

    def image_codes(self, ids):
        """The codes of generated image ids (shifted back); an id outside
        the image range is an error."""
        codes = np.asarray(ids) - self.image_offset
        if codes.min() < 0 or codes.max() >= self.num_codes:
            raise ValueError("The generated ids are not all image codes.")
        return codes


def loss_weights(ids, cells, text_weight=0.0):
    """Weights of the targets `ids[:, 1:]` of sequences whose last `cells`
    ids are the image: 1 for the image codes (what the model is for),
    `text_weight` for the caption's words and `BOS_IMAGE` (DALL-E weighted
    its text 1/8), 0 for padding."""
    targets = np.asarray(ids)[:, 1:]
    weights = np.where(targets == PAD, 0.0, float(text_weight))
    weights[:, -cells:] = 1.0
    return weights.astype("float32")
