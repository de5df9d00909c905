"""The zoo's command line.

    python -m zoo train vit --dataset digits
    python -m zoo evaluate runs/vit-digits
    python -m zoo predict runs/vit-digits image.png

`python -m zoo COMMAND --help` lists each command's options.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TASKS = ("vit",)


def _task_of(run_dir):
    from zoo import runs

    return runs.RunDir(run_dir).load_config()["task"]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m zoo",
        description="Train, evaluate and use keras_transformer models.",
        epilog="Run `python -m zoo COMMAND --help` for a command's options.",
    )
    parser.add_argument(
        "command",
        choices=["train", "evaluate", "predict"],
        help="train TASK ... | evaluate RUN_DIR | predict RUN_DIR IMAGE...",
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    parser.parse_args([command])  # validates the command name

    if command == "train":
        tasks = argparse.ArgumentParser(
            prog="python -m zoo train",
            description="Train a model; TASK --help lists its options.",
        )
        tasks.add_argument("task", choices=TASKS)
        if not rest or rest[0] in ("-h", "--help"):
            tasks.print_help()
            return 0
        tasks.parse_args(rest[:1])
        from zoo.vit import train

        train.main(rest[1:])
        return 0

    from zoo.vit import evaluate

    if command == "evaluate":
        evaluate.evaluate_main(rest)
    else:
        evaluate.predict_main(rest)
    return 0


def run(argv=None):
    """`main`, with a one-line message instead of a traceback for the
    errors a user can fix (bad arguments, missing data or files)."""
    try:
        return main(argv)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
