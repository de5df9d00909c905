"""The zoo's command line.

    python -m zoo train vit --dataset digits
    python -m zoo evaluate runs/vit-digits
    python -m zoo predict runs/vit-digits image.png
    python -m zoo export runs/vit-digits --out exported/vit
    python -m zoo train translation --dataset multi30k
    python -m zoo evaluate runs/translation-de-en
    python -m zoo translate runs/translation-de-en "Ein Mann fährt Fahrrad."
    python -m zoo export runs/translation-de-en --out exported/de-en
    python -m zoo train gpt --dataset shakespeare
    python -m zoo generate runs/gpt-shakespeare --prompt "ROMEO:"
    python -m zoo export runs/gpt-shakespeare --out exported/gpt
    python -m zoo tune vit --dataset digits --max-trials 12 --out DIR
    python -m zoo train vit --dataset digits --hparams DIR/best.json
    python -m zoo finetune gpt runs/gpt-shakespeare --data my_text.txt
    python -m zoo finetune vit runs/vit-mnist --dataset digits
    python -m zoo prepare translation --data 'corpus/*.tsv' --out shards
    python -m zoo train translation --dataset custom --data 'shards/*.tfrecord'

`python -m zoo COMMAND --help` lists each command's options.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo import cli  # noqa: E402 (after the TF log level)
from zoo import tasks  # noqa: E402

COMMANDS = (
    "train",
    "tune",
    "evaluate",
    "predict",
    "translate",
    "generate",
    "export",
    "finetune",
    "prepare",
)
# Options of evaluate/predict/translate/generate/export that take a
# value: the first other word that is not an option is the run directory.
VALUE_OPTIONS = {
    "--data-dir",
    "--beam-size",
    "--plot",
    "--out",
    "--prompt",
    "--max-new-tokens",
    "--temperature",
    "--top-k",
    "--top-p",
    "--seed",
}


def _run_dir_of(words):
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def _task_of(run_dir):
    from zoo import runs

    return runs.RunDir(run_dir).load_config()["task"]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = cli.ArgumentParser(
        prog="python -m zoo",
        description="Train, evaluate and use keras_transformer models.",
        epilog="Run `python -m zoo COMMAND --help` for a command's options.",
    )
    parser.add_argument(
        "command",
        choices=COMMANDS,
        help="train TASK ... | tune TASK ... | evaluate RUN_DIR "
        "| predict RUN_DIR IMAGE... | translate RUN_DIR TEXT... "
        "| generate RUN_DIR --prompt TEXT "
        "| export RUN_DIR --out DIR | finetune TASK RUN_DIR ... "
        "| prepare TASK --data GLOB --out DIR",
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    parser.parse_args([command])  # validates the command name

    if command == "tune":
        from zoo import tune

        if not rest or rest[0] in ("-h", "--help"):
            tune.add_arguments(
                cli.ArgumentParser(
                    prog="python -m zoo tune TASK",
                    description=f"Search hyper-parameters; TASK is one of "
                    f"{', '.join(tasks.TASKS)}.",
                )
            ).print_help()
            return 0
        tune.main(rest)
        return 0

    if command == "finetune":
        from zoo import finetune

        finetune.main(rest)
        return 0

    if command == "prepare":
        from zoo import prepare

        prepare.prepare_main(rest)
        return 0

    if command == "train":
        tasks_parser = cli.ArgumentParser(
            prog="python -m zoo train",
            description="Train a model; TASK --help lists its options.",
        )
        tasks_parser.add_argument("task", choices=tasks.TASKS)
        if not rest or rest[0] in ("-h", "--help"):
            tasks_parser.print_help()
            return 0
        task = tasks_parser.parse_args(rest[:1]).task
        from zoo import recipe

        recipe.train(tasks.family(task), rest[1:])
        return 0

    run_dir = _run_dir_of(rest)
    owners = [task for task in tasks.TASKS if command in tasks.COMMANDS[task]]
    if not run_dir and command != "export":
        # Its parser (the first task's) prints the help or says that
        # RUN_DIR is missing.
        tasks.command(owners[0], command)(rest)
        return 0
    if not run_dir:  # `export`: its options depend on the run's task
        for task in owners:
            print(f"== {command} of a {task} run")
            try:
                tasks.command(task, command)(["--help"])
            except SystemExit:
                pass
            print()
        return 0
    task = _task_of(run_dir)
    handler = tasks.command(task, command)
    if handler is None:
        raise cli.UsageError(
            f"`{command}` does not apply to a {task!r} run. "
            f"Commands for it: {sorted(tasks.COMMANDS[task])}"
        )
    handler(rest)
    return 0


def run(argv=None):
    """`main` as `python -m zoo` runs it: a mistake the user can fix (a
    `cli.UsageError`, a dataset not found, a bad argument) is one message
    on stderr and exit status 2, not a traceback; any other exception is
    a bug and keeps its traceback. Returns the exit status."""
    from zoo import datasets

    try:
        return main(argv)
    except SystemExit as e:  # argparse: --help (0) or its one-line error (2)
        if e.code is None:
            return 0
        return e.code if isinstance(e.code, int) else 1
    except (cli.UsageError, datasets.DatasetNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
