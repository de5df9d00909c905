"""What a finished search writes: summary.csv (every trial), summary.md
(best first, with the baseline), trials.png (objective vs trial) and
best.json (the best trial's settings, score, seed and budget, and the
command that replays it)."""

import csv
import json

from zoo import files


def short(value):
    """A value for a table cell or a log line."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


# What a trial reports to the oracle besides its objective: its wall
# time, the memory of the process that ran it after it, the trial
# process's peak, and each execution's score.
STATS = ("seconds", "rss_mb", "trial_peak_rss_mb")
EXECUTION = "execution_{}"


def trial_stats(trial):
    """`STATS` of a `keras_tuner` trial (None where it reported none: a
    failed trial) and `scores`, its executions' scores."""
    metrics = trial.metrics

    def last(name):
        if not metrics.exists(name):
            return None
        return float(metrics.get_last_value(name))

    scores = []
    while metrics.exists(EXECUTION.format(len(scores))):
        scores.append(last(EXECUTION.format(len(scores))))
    return {**{name: last(name) for name in STATS}, "scores": scores}


def trial_rows(oracle):
    """One dict per trial of the search's `oracle`, in the order they
    were created."""
    rows = []
    for trial_id in oracle.start_order:
        trial = oracle.get_trial(trial_id)
        rows.append(
            {
                "trial": trial_id,
                "status": trial.status,
                "score": trial.score,
                **trial_stats(trial),
                **trial.hyperparameters.values,
            }
        )
    return rows


def write_summary(rows, baseline, objective, record, out):
    """summary.csv (every trial), summary.md (best first, with the
    baseline) and trials.png (objective vs trial)."""
    names = []
    for row in rows:
        names += [k for k in row if k not in names]
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)

    done = [r for r in rows if r["status"] == "COMPLETED"]
    reverse = objective.direction == "max"
    done.sort(key=lambda r: r["score"], reverse=reverse)
    hp_names = [n for n in names if n not in _STAT_COLUMNS]
    executions = record.get("executions_per_trial", 1)
    lines = [
        f"# Search: {record['task']} on {record['dataset']}",
        "",
        f"`{record['command']}`",
        "",
        f"{record['tuner']} search, {len(done)} completed trials of "
        f"{record['epochs_per_trial']} epochs"
        + (
            f", each trained {executions} times (mean score)"
            if executions > 1
            else ""
        )  # fmt: skip
        + " (random and bayesian searches "
        "try the preset's values first when the space holds them); "
        f"objective {objective.name} "
        f"({objective.direction}). Baseline (preset {record['preset']}, the "
        f"same budget): {baseline['value']:.4f}.",
        "",
        "| trial | "
        + objective.name
        + " | seconds | "
        + " | ".join(hp_names)
        + " |",  # fmt: skip
        "|---" * (len(hp_names) + 3) + "|",
    ]
    for r in done:
        cells = [r["trial"], f"{r['score']:.4f}", f"{r['seconds']}"]
        cells += [short(r.get(n, "")) for n in hp_names]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    baseline_cells = ["preset", f"{baseline['value']:.4f}"]
    baseline_cells += [f"{baseline.get('seconds', '')}"]
    baseline_cells += [
        short(baseline["hyperparameters"].get(n, "")) for n in hp_names
    ]
    lines.append("| " + " | ".join(map(str, baseline_cells)) + " |")
    files.write_text(out / "summary.md", "\n".join(lines) + "\n")
    plot_trials(rows, baseline, objective, out / "trials.png", record)


_STAT_COLUMNS = ("trial", "status", "score", *STATS, "scores")


def plot_trials(rows, baseline, objective, path, record):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, best, best_ys = [], [], None, []
    better = max if objective.direction == "max" else min
    for i, r in enumerate(rows):  # x = the trial number, from 0
        if r["status"] != "COMPLETED":
            continue
        xs.append(i)
        ys.append(r["score"])
        best = r["score"] if best is None else better(best, r["score"])
        best_ys.append(best)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(xs, ys, "o", label="trial")
    ax.step(xs, best_ys, where="post", label="best so far")
    ax.axhline(baseline["value"], color="grey", linestyle="--")
    ax.annotate(
        f"preset {record['preset']}",
        (0, baseline["value"]),
        textcoords="offset points",
        xytext=(0, 4),
        color="grey",
    )
    ax.set_xlabel("trial")
    ax.set_ylabel(objective.name)
    ax.set_title(f"{record['tuner']} search: {record['task']} on "
                 f"{record['dataset']}")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_best(rows, baseline, search, record, out):
    """best.json: the best completed trial's search values, the config
    fields they set (for `train --hparams`), its score (and each
    execution's), the seed and budget it trained with, and the `train`
    command that replays it: with that seed and budget, `train` runs the
    trial's own steps and logs the same score."""
    done = [r for r in rows if r["status"] == "COMPLETED"]
    if not done:
        raise RuntimeError(f"No trial completed; see {out / 'search'}")
    objective = search.objective
    pick = max if objective.direction == "max" else min
    best = pick(done, key=lambda r: r["score"])
    values = {
        k: v
        for k, v in best.items()
        if k not in _STAT_COLUMNS and not k.startswith("tuner/")
    }
    budget = search.budget(best)
    result = {
        "task": record["task"],
        "dataset": record["dataset"],
        "preset": record["preset"],
        **(
            {"src": record["src"], "tgt": record["tgt"]}
            if record["task"] == "translation"
            else {}
        ),  # fmt: skip
        "objective": objective.name,
        "direction": objective.direction,
        "trial": best["trial"],
        "value": best["score"],
        "executions": best.get("scores"),
        "baseline_value": baseline["value"],
        "seed": record["seed"],
        "budget": budget,
        "hyperparameters": values,
        "config": search.config_changes(values),
        "replay": search.replay_command(out / "best.json", budget),
        "command": record["command"],
    }
    files.write_text(out / "best.json", json.dumps(result, indent=2) + "\n")
    return result
