"""Training curves from a run's log.csv, as a PNG."""
from __future__ import annotations

import csv
from pathlib import Path


def plot_log(run_dir: Path, png: Path = None) -> Path:
    """Plot train loss and the validation metric per epoch; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    with open(run_dir / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{run_dir / 'log.csv'} has no epochs yet")
    metric = next(k for k in rows[0] if k.startswith("valid_"))
    epochs = [int(r["epoch"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, [float(r["train_loss"]) for r in rows], marker=".")
    left.set(xlabel="epoch", ylabel="train loss", title="loss")
    right.plot(epochs, [float(r[metric]) for r in rows], marker=".", color="tab:green")
    right.set(xlabel="epoch", ylabel=metric.replace("_", " "), title=metric.replace("_", " "))
    fig.tight_layout()
    png = Path(png or run_dir / "curves.png")
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
