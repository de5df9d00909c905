"""What every zoo command shares on the command line: `UsageError` for a
mistake the user can fix, a parser whose errors are one line, and the
argument types that refuse nonsense (a zero batch size, a negative
temperature, a file where a folder belongs) before anything runs.

`python -m zoo` (`zoo.__main__.run`) prints a `UsageError` as one line
and exits with status 2; any other exception is a bug and keeps its
traceback.
"""

import argparse
import json
import math
import pathlib


class UsageError(ValueError):
    """A mistake the user can fix: a bad argument or file, or a run
    directory that does not fit the command. The message says what is
    wrong and what to do."""


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line (the usage is
    one `--help` away), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _type(name, parse):
    """An argparse `type=` from `parse(text)`, which raises
    `ValueError(reason)`; argparse shows the reason after the option's
    name: `argument --epochs: must be an integer >= 1; received '0'`."""

    def convert(text):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"{e}; received {text!r}"
            ) from None

    convert.__name__ = name
    return convert


def integer(low):
    """Integers `>= low`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"must be an integer >= {low}") from None
        if value < low:
            raise ValueError(f"must be an integer >= {low}")
        return value

    return _type(f"integer >= {low}", parse)


def number(low=None, high=None, low_open=False, high_open=False):
    """Finite floats in the interval from `low` to `high` (either end
    open when `*_open`, unbounded when `None`)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    wanted = "must be a number " + " and ".join(parts) if parts else ""
    wanted = wanted or "must be a finite number"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(wanted) from None
        if not math.isfinite(value):
            raise ValueError(wanted)
        if low is not None and (value <= low if low_open else value < low):
            raise ValueError(wanted)
        if high is not None and (value >= high if high_open else value > high):
            raise ValueError(wanted)
        return value

    return _type("number", parse)


def choice(name, values):
    """One of `values` (strings); a typo names them all."""

    def parse(text):
        if text not in values:
            raise ValueError(f"must be one of {', '.join(values)}")
        return text

    return _type(name, parse)


POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
RATE = number(0.0, 1.0, high_open=True)  # dropout: [0, 1)


def _out_dir(text):
    path = pathlib.Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError("names a file; give a folder")
    return path


def _export_dir(text):
    path = _out_dir(text)
    if (
        path.is_dir()
        and any(path.iterdir())
        and not (path / "saved_model.pb").is_file()
    ):
        raise ValueError(
            "holds other files than a SavedModel: give a new or empty folder"
        )
    return path


def _existing_dir(text):
    path = pathlib.Path(text).expanduser()
    if not path.is_dir():
        raise ValueError(
            "is not a folder" if path.exists() else "no such folder"
        )
    return path


def _output_file(text):
    path = pathlib.Path(text).expanduser()
    if path.is_dir():
        raise ValueError("is a folder: give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"no folder {path.parent} to write it in")
    return path


OUT_DIR = _type("folder", _out_dir)  # a folder that may not exist yet
EXPORT_DIR = _type("folder", _export_dir)  # new, empty or a SavedModel
DATA_DIR = _type("folder", _existing_dir)
OUTPUT_FILE = _type("file", _output_file)


def json_object(default_name=None):
    """An argparse type for a JSON file holding an object (a folder: its
    `default_name` file): `(path, object)`."""

    def parse(text):
        return read_json_object(text, default_name)

    parse.__name__ = "JSON file"
    return parse


def read_json_object(path, default_name=None):
    """`(path, dict)` of a JSON object file; an `ArgumentTypeError`
    naming the file when it is missing, empty, malformed or not an
    object."""
    path = pathlib.Path(path).expanduser()
    if path.is_dir() and default_name:
        path = path / default_name
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise argparse.ArgumentTypeError(
            f"{path} is not valid JSON ({e})"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{path} must hold a JSON object (name -> value); it holds a "
            f"{type(value).__name__}"
        )
    return path, value


QUANTIZATION_MODES = ("int8", "int4", "float8")


def run_parser(command, description, data_dir=False, quantize=False):
    """The parser of `python -m zoo COMMAND RUN_DIR`: the run directory
    and, with `data_dir`, `--data-dir`; with `quantize`, `--quantize`."""
    parser = ArgumentParser(
        prog=f"python -m zoo {command}", description=description
    )
    parser.add_argument("run_dir", help="the --out folder of a training run")
    if data_dir:
        parser.add_argument(
            "--data-dir", type=DATA_DIR, help="local data folder"
        )
    if quantize:
        parser.add_argument(
            "--quantize",
            choices=QUANTIZATION_MODES,
            help="evaluate the model with its kernels quantized to this "
            "type (Keras' model.quantize); the figures go into "
            "metrics.json under names that start with it, e.g. int8_",
        )
    return parser


def quantized(model, mode):
    """`model` with its kernels quantized to `mode` (`None`: as it is)."""
    if mode is not None:
        model.quantize(mode)
    return model


def labelled(metrics, mode):
    """`metrics` with each name prefixed by the quantization `mode`."""
    if mode is None:
        return metrics
    return {f"{mode}_{name}": value for name, value in metrics.items()}
