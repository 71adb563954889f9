"""Figures saved as PNG files with matplotlib's file-only Agg backend (no display needed):
training curves, attention heat maps, gate activations, the counting unit."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .training.run_folder import LOG_FILE, load_run


def save_attention_heatmap(weights: np.ndarray, story_tokens: Sequence[str],
                           question_tokens: Sequence[str], path: Path,
                           title: Optional[str] = None) -> Path:
    """Heat map of (S, Q) attention weights: one row per question token, one
    column per story token.  Returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(story_tokens), len(question_tokens)):
        raise ValueError(f"weights {weights.shape} do not match {len(story_tokens)} story and "
                         f"{len(question_tokens)} question tokens")
    width = min(max(6.0, 0.28 * len(story_tokens) + 2.0), 40.0)
    figure, axes = plt.subplots(figsize=(width, 1.0 + 0.45 * len(question_tokens)))
    image = axes.imshow(weights.T, aspect="auto", cmap="viridis")  # (Q, S)
    axes.set_xticks(range(len(story_tokens)))
    axes.set_xticklabels(story_tokens, rotation=90, fontsize=8)
    axes.set_yticks(range(len(question_tokens)))
    axes.set_yticklabels(question_tokens, fontsize=9)
    axes.set_xlabel("story token")
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.03, pad=0.01)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def save_gate_plot(traced: dict, step_labels: Sequence[str], path: Path, units: int = 8,
                   sample: int = 0) -> Path:
    """Heat maps of the four gates and the cell state over time for the first
    ``units`` hidden units of one sample of a :func:`gluon_seq.rnn.gates.trace`."""
    plt = _pyplot()
    names = ["input_gate", "forget_gate", "candidate", "output_gate", "cell"]
    figure, axes = plt.subplots(len(names), 1, figsize=(max(6.0, 0.3 * len(step_labels) + 2), 9),
                                sharex=True)
    for axis, name in zip(axes, names):
        values = traced[name][:, sample, :units].T                       # (units, T)
        limit = (0.0, 1.0) if name.endswith("gate") else (-1.0, 1.0) if name == "candidate" \
            else (-np.abs(values).max(), np.abs(values).max())
        image = axis.imshow(values, aspect="auto", cmap="coolwarm", vmin=limit[0], vmax=limit[1])
        axis.set_ylabel(name.replace("_", " "), fontsize=8)
        figure.colorbar(image, ax=axis, fraction=0.02, pad=0.01)
    axes[-1].set_xticks(range(len(step_labels)))
    axes[-1].set_xticklabels(step_labels)
    axes[-1].set_xlabel("time step (input)")
    return _save(figure, path)


def save_unit_vs_count(cell: np.ndarray, running: np.ndarray, labels: Sequence[str],
                       path: Path) -> Path:
    """One cell unit's state (T, N) against the running count (T, N), one line per sample."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for n, label in enumerate(labels):
        left.plot(cell[:, n], marker=".", label=label)
        right.plot(running[:, n], marker=".", label=label)
    left.set(xlabel="bit", ylabel="cell state", title="the counting unit")
    right.set(xlabel="bit", ylabel="ones so far", title="running count")
    left.legend(fontsize=7)
    return _save(figure, path)


def plot_log(run_dir: Path, png: Path = None) -> Path:
    """Plot train loss and the validation metric per epoch; returns the PNG path."""
    plt = _pyplot()
    run_dir = Path(run_dir)
    with open(run_dir / LOG_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{run_dir / LOG_FILE} has no epochs yet")
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


def plot_run_attention(run_dir: Path, story: str, question: str, path: Path) -> Path:
    """Reload a trained bAbI run and save the heat map of its match weights as a PNG."""
    import mxnet as mx

    from .models.memnn import attention_weights

    _, task, model, _ = load_run(run_dir)
    codec = task.codec()
    weights, story_tokens, question_tokens = attention_weights(model, codec, story, question)
    arrays = codec.encode([{"story": story, "question": question}])
    scores = model(*[mx.nd.array(a) for a in arrays], *model.begin_state(1))  # (1, V)
    answer = codec.decode([scores.asnumpy()])[0]
    return save_attention_heatmap(weights, story_tokens, question_tokens, path,
                                  title=f"{question} -> {answer['answer']}")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table (what a notebook shows with ``IPython.display.Markdown``);
    ``|`` inside a cell is escaped, so any text fits."""
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row needs {len(header)} cells, one per column of {list(header)}")
    cell = lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def hop_weights(predictor, story: str, question: str):
    """(weights (sentences, hops), the story's sentences as token lists, the answer dict)
    of a MemN2N export folder's predictor: its second output, (1, hops, slots), cut to
    the slots that hold the story's sentences."""
    from .codecs.babi import tokenize
    from .codecs.babi_memory import MemoryCodec, split_sentences

    codec = predictor.codec
    if not isinstance(codec, MemoryCodec):
        raise ValueError("this export has no sentence memory; hops need a MemN2N export "
                         "(train babi with --preset memn2n)")
    scores, attention = predictor.run(codec.encode([{"story": story, "question": question}]))
    sentences = split_sentences(tokenize(story))[-codec.memory_size:]
    weights = attention[0][:, -len(sentences):].T                  # (sentences, hops)
    return weights, sentences, codec.decode([scores])[0]


def plot_hops(predictor, story: str, question: str, path: Path) -> Path:
    """Heat map of :func:`hop_weights`: a row per story sentence, a column per hop,
    the answer and its probability as the title; returns the PNG's path."""
    weights, sentences, answer = hop_weights(predictor, story, question)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(sentences) + 1.4))
    axes.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    axes.set_yticks(range(len(sentences)))
    axes.set_yticklabels([" ".join(s) for s in sentences], fontsize=8)
    axes.set_xticks(range(weights.shape[1]))
    axes.set_xticklabels([f"hop {k + 1}" for k in range(weights.shape[1])])
    axes.set_xlabel("hop (one row per story sentence, the oldest at the top)")
    for (row, hop), weight in np.ndenumerate(weights):
        axes.text(hop, row, f"{weight:.2f}", ha="center", va="center", fontsize=7,
                  color="w" if weight < 0.5 else "k")
    axes.set_title(f"{question} -> {answer['answer']} (p = {answer['probability']:.2f})")
    return _save(figure, path)
