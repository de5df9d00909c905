"""A finished run's results: history.csv read back, the training
curves, and metrics.json (written last: with model.keras, it marks the
run finished) with what every run records."""

import csv
import os
import pathlib
import platform


def hardware():
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    cpu = platform.processor() or platform.machine()
    model_name = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model_name or cpu,
        "cpu_count": os.cpu_count(),
        "gpus": len(gpus),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def read_history(path):
    """history.csv as dict column -> list of floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]} if rows else {}


def record_results(
    run, model, record, train_seconds, start_epoch, results, title
):
    """After training: reads history.csv back, plots the training curves,
    then writes metrics.json (last: it marks the run finished) with
    `results(history)` and what every run records (epochs, resume point,
    training seconds over all resumes, size, hardware, command). Returns
    `(metrics, history)`."""
    from keras_transformer.visualization import plot_history

    history = read_history(run.history)
    plot_history(history, run.path / "training_curves.png", title=title)
    metrics = run.write_metrics(
        {
            **results(history),
            "epochs_run": len(history.get("loss", [])),
            "resumed_after_epoch": start_epoch,
            "train_seconds": round(train_seconds, 1),
            "parameters": int(model.count_params()),
            "hardware": hardware(),
            "command": record["command"],
        }
    )
    return metrics, history
