"""Writes the small corpora the default test run trains on, in the layout
of the full datasets (see README.md beside this file):

    python tests/data/make_samples.py

Every sentence is generated here from the word lists below with a fixed
seed, so the output is the same on every machine and owes nothing to the
datasets it stands in for. `SAMPLE.json` lists each file's sha256; the
zoo's loaders accept a folder as a declared sample of a dataset only with
those checksums, and `tests/zoo/test_samples.py` checks that this script
still writes exactly the committed files.
"""

import gzip
import hashlib
import io
import json
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
SEED = 30

# -- Multi30k-like German/English captions ------------------------------------

# (German, English, plural)
SUBJECTS = [
    ("Ein Mann", "A man", False),
    ("Eine Frau", "A woman", False),
    ("Ein Junge", "A boy", False),
    ("Ein Mädchen", "A girl", False),
    ("Ein Hund", "A dog", False),
    ("Ein älterer Mann", "An older man", False),
    ("Eine junge Frau", "A young woman", False),
    ("Ein kleines Kind", "A small child", False),
    ("Zwei Männer", "Two men", True),
    ("Drei Frauen", "Three women", True),
    ("Zwei Hunde", "Two dogs", True),
    ("Mehrere Kinder", "Several children", True),
    ("Zwei Mädchen", "Two girls", True),
]
# (German singular, German plural, English -ing form)
ACTIONS = [
    ("fährt Fahrrad", "fahren Fahrrad", "riding a bike"),
    ("spielt Fußball", "spielen Fußball", "playing soccer"),
    ("läuft", "laufen", "running"),
    ("sitzt auf einer Bank", "sitzen auf einer Bank", "sitting on a bench"),
    ("liest ein Buch", "lesen ein Buch", "reading a book"),
    ("springt", "springen", "jumping"),
    ("schwimmt", "schwimmen", "swimming"),
    ("isst", "essen", "eating"),
    ("lacht", "lachen", "laughing"),
    ("spielt Gitarre", "spielen Gitarre", "playing the guitar"),
    ("wartet", "warten", "waiting"),
    (
        "klettert auf einen Felsen",
        "klettern auf einen Felsen",
        "climbing a rock",
    ),
]
PLACES = [
    ("", ""),
    (" im Park", " in the park"),
    (" am Strand", " on the beach"),
    (" im Schnee", " in the snow"),
    (" auf der Straße", " on the street"),
    (" im Wasser", " in the water"),
    (" vor einem Gebäude", " in front of a building"),
    (" auf einer Wiese", " on a meadow"),
]
SPLITS = {"train": 400, "val": 60, "test_2016_flickr": 60}


def captions(rng):
    pairs = []
    for de_subject, en_subject, plural in SUBJECTS:
        for de_sg, de_pl, en_ing in ACTIONS:
            for de_place, en_place in PLACES:
                de = f"{de_subject} {de_pl if plural else de_sg}{de_place}."
                be = "are" if plural else "is"
                en = f"{en_subject} {be} {en_ing}{en_place}."
                pairs.append((de, en))
    rng.shuffle(pairs)
    splits, start = {}, 0
    for name, size in SPLITS.items():
        splits[name] = pairs[start : start + size]
        start += size
    return splits


# -- A play in the layout of Tiny Shakespeare ---------------------------------

SPEAKERS = [
    "ROMEO",
    "JULIET",
    "KING RICHARD III",
    "FIRST CITIZEN",
    "MENENIUS",
    "QUEEN ELIZABETH",
    "DUKE VINCENTIO",
    "GLOUCESTER",
]
OPENERS = ["Good", "My", "What", "Now", "O", "Come", "Why", "Thus", "Yet"]
WORDS = (
    "lord lady heart king crown night day love grief sword blood honour "
    "fair sweet noble gentle quick brave jealous fortune zeal vexed joy "
    "speak hear know think pray give take bear swear keep stay fly "
    "thee thou thy mine your our his her the a of to and in with by "
    "not now then here there whence why how well ill more less"
).split()
ENDINGS = [".", ",", "!", "?", ";", ":"]


def play(rng, speeches=260):
    out = io.StringIO()
    for _ in range(speeches):
        out.write(f"{rng.choice(SPEAKERS)}:\n")
        for _ in range(rng.randint(1, 3)):
            words = [rng.choice(OPENERS)]
            words += [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
            line = " ".join(words)
            out.write(f"{line}{rng.choice(ENDINGS)}\n")
        out.write("\n")
    return out.getvalue()


# -- writing ------------------------------------------------------------------


def _gzip(lines):
    buffer = io.BytesIO()
    # mtime=0 and no file name: the same bytes on every run.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as f:
        f.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
    return buffer.getvalue()


def contents():
    """`{relative path: bytes}` of every sample file."""
    rng = random.Random(SEED)
    files = {}
    for split, pairs in captions(rng).items():
        for i, lang in enumerate(("de", "en")):
            rel = f"multi30k/task1/raw/{split}.{lang}.gz"
            files[rel] = _gzip(pair[i] for pair in pairs)
    files["tinyshakespeare/input.txt"] = play(rng).encode("utf-8")
    return files


def manifest(files):
    def entry(prefix, description):
        return {
            "description": description,
            "files": {
                rel: hashlib.sha256(data).hexdigest()
                for rel, data in sorted(files.items())
                if rel.startswith(prefix)
            },
        }

    return {
        "multi30k": entry(
            "multi30k/",
            "generated German/English caption pairs (400 train, 60 val, "
            "60 test) for tests, not Multi30k",
        ),
        "shakespeare": entry(
            "tinyshakespeare/",
            "a generated play of about 20 KB for tests, not Tiny Shakespeare",
        ),
    }


def main():
    files = contents()
    for rel, data in files.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    text = json.dumps(manifest(files), indent=2) + "\n"
    (HERE / "SAMPLE.json").write_text(text)
    print(f"wrote {len(files)} files and SAMPLE.json under {HERE}")


if __name__ == "__main__":
    main()
