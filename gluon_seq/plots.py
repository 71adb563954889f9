"""Figures saved as PNG files with matplotlib's file-only Agg backend (no display needed):
training curves, attention heat maps, gate activations, the counting unit."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .training.run_folder import LOG_FILE, load_run

DPI = 90  # modest: the executed notebooks embed these PNGs


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
    figure.savefig(path, dpi=DPI)
    _pyplot().close(figure)
    return path


GATES = (("input_gate", "input gate i"), ("forget_gate", "forget gate f"),
         ("candidate", "candidate g"), ("output_gate", "output gate o"), ("cell", "cell state c"))


def save_gate_plot(traced: dict, windows: Sequence[str], path: Path, units: int = 8) -> Path:
    """Heat maps of an LSTM's four gates and its cell state for the first ``units`` hidden
    units, one column per step of each input window (each window read from zero states).

    ``traced``: :meth:`SequenceClassifier.trace_gates` of N windows of T steps, each array
    (T, N, H); ``windows``: the N inputs as strings of T symbols, used as axis labels."""
    plt = _pyplot()
    steps, count = traced["cell"].shape[:2]
    if len(windows) != count or any(len(w) != steps for w in windows):
        raise ValueError(f"windows must be {count} strings of {steps} symbols, one per traced input")
    units = min(units, traced["cell"].shape[2])
    figure, axes = plt.subplots(len(GATES), 1, figsize=(max(7.0, 0.16 * steps * count + 2.5),
                                                        1.6 * len(GATES) + 1), sharex=True)
    for axis, (name, title) in zip(axes, GATES):
        # (T, N, units) -> (units, N * T): window by window, its steps in order
        values = traced[name][:, :, :units].transpose(2, 1, 0).reshape(units, count * steps)
        bound = 1.0 if name != "cell" else max(float(np.abs(values).max()), 1e-6)
        low = 0.0 if name.endswith("gate") else -bound
        image = axis.imshow(values, aspect="auto", cmap="coolwarm", vmin=low, vmax=bound,
                            interpolation="nearest")
        for boundary in range(steps, count * steps, steps):
            axis.axvline(boundary - 0.5, color="white", linewidth=1.5)
        axis.set_yticks(range(units))
        axis.set_yticklabels([str(u) for u in range(units)], fontsize=6)
        axis.set_ylabel("hidden unit", fontsize=8)
        axis.set_title(title, fontsize=9, loc="left")
        figure.colorbar(image, ax=axis, fraction=0.02, pad=0.01).set_label("value", fontsize=7)
    axes[-1].set_xticks(range(count * steps))
    axes[-1].set_xticklabels([symbol for window in windows for symbol in window], fontsize=7)
    axes[-1].set_xlabel("letter read at each step, window by window (white lines separate "
                        "the windows)")
    top = axes[0].secondary_xaxis("top")
    top.set_xticks([w * steps + (steps - 1) / 2 for w in range(count)])
    top.set_xticklabels(list(windows), fontsize=6, rotation=90)
    top.set_xlabel("input window", fontsize=8)
    return _save(figure, path)


def save_probabilities(probabilities: Sequence[float], labels: Sequence[str], path: Path,
                       title: str = "", xlabel: str = "class") -> Path:
    """A bar chart of one input's probability per class, the most likely bar highlighted."""
    plt = _pyplot()
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(labels),):
        raise ValueError(f"{probabilities.shape[0]} probabilities for {len(labels)} labels")
    figure, axis = plt.subplots(figsize=(max(5.0, 0.32 * len(labels) + 1.5), 3.0))
    colors = ["tab:blue"] * len(labels)
    colors[int(probabilities.argmax())] = "tab:orange"
    axis.bar(range(len(labels)), probabilities, color=colors)
    axis.set_xticks(range(len(labels)))
    axis.set_xticklabels(labels, fontsize=8)
    axis.set(xlabel=xlabel, ylabel="probability", ylim=(0, 1.05), title=title)
    return _save(figure, path)


def plot_runs(runs: dict, path: Path, as_error: bool = False, log_scale: bool = False,
              label: Optional[str] = None) -> Path:
    """The validation metric per epoch of several runs on one chart; ``runs`` maps a legend
    label to a run folder, ``as_error`` plots 1 - metric, ``label`` names the y axis."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 3.4))
    for legend, run_dir in runs.items():
        epochs, _, values, metric = _read_log(run_dir)
        values = [1 - v for v in values] if as_error else values
        axis.plot(epochs, [100 * v for v in values], marker=".", label=legend)
    name = metric.replace("_", " ").replace("accuracy", "error" if as_error else "accuracy")
    axis.set(xlabel="epoch", ylabel=label or f"{name} (%)")
    if log_scale:
        axis.set_yscale("log")
    axis.legend()
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


def _read_log(run_dir: Path):
    """A run's log.csv as (epochs, train losses, validation values, validation column)."""
    path = Path(run_dir) / LOG_FILE
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path} has no epochs yet")
    metric = next(k for k in rows[0] if k.startswith("valid_"))
    return ([int(r["epoch"]) for r in rows], [float(r["train_loss"]) for r in rows],
            [float(r[metric]) for r in rows], metric)


def plot_log(run_dir: Path, png: Path = None, label: Optional[str] = None) -> Path:
    """Plot train loss and the validation metric per epoch (``label`` names it, if the
    log's column name would mislead); returns the PNG path."""
    plt = _pyplot()
    epochs, losses, values, metric = _read_log(run_dir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    left.plot(epochs, losses, marker=".")
    left.set(xlabel="epoch", ylabel="train loss", title="loss")
    right.plot(epochs, values, marker=".", color="tab:green")
    label = label or metric.replace("_", " ")
    right.set(xlabel="epoch", ylabel=label, title=label)
    return _save(fig, png or Path(run_dir) / "curves.png")


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
    the slots that hold the story's sentences.  For an EntNet export the columns are its
    memory blocks and the weights its gates: how much each sentence was written into each."""
    from .codecs.babi import tokenize
    from .codecs.babi_memory import MemoryCodec, split_sentences

    codec = predictor.codec
    if not isinstance(codec, MemoryCodec):
        raise ValueError("this export has no sentence memory; hops need a MemN2N or EntNet "
                         "export (train babi with --preset memn2n or entnet)")
    scores, attention = predictor.run(codec.encode([{"story": story, "question": question}]))
    sentences = split_sentences(tokenize(story))[-codec.memory_size:]
    weights = attention[0][:, -len(sentences):].T                  # (sentences, hops)
    return weights, sentences, codec.decode([scores])[0]


def plot_hops(predictor, story: str, question: str, path: Path) -> Path:
    """Heat map of :func:`hop_weights`: a row per story sentence, a column per hop (or
    memory block), the answer and its probability as the title; returns the PNG's path."""
    weights, sentences, answer = hop_weights(predictor, story, question)
    from .serving.format import second_output_rows

    column = second_output_rows(predictor.meta)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(sentences) + 1.4))
    axes.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    axes.set_yticks(range(len(sentences)))
    axes.set_yticklabels([" ".join(s) for s in sentences], fontsize=8)
    axes.set_xticks(range(weights.shape[1]))
    axes.set_xticklabels([str(k + 1) for k in range(weights.shape[1])])
    axes.set_xlabel(f"{column} (one row per story sentence, the oldest at the top)")
    for (row, hop), weight in np.ndenumerate(weights):
        axes.text(hop, row, f"{weight:.2f}", ha="center", va="center", fontsize=7,
                  color="w" if weight < 0.5 else "k")
    axes.set_title(f"{question} -> {answer['answer']} (p = {answer['probability']:.2f})")
    return _save(figure, path)


def _box(axis, x, y, text, color, width=0.9, height=0.6):
    from matplotlib.patches import FancyBboxPatch

    axis.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                  boxstyle="round,pad=0.05", facecolor=color, edgecolor="black"))
    axis.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(axis, start, end, text="", **where):
    axis.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", linewidth=1.4))
    if text:
        axis.text((start[0] + end[0]) / 2 + 0.12, (start[1] + end[1]) / 2, text, fontsize=9,
                  **where)


def save_lstm_cell_diagram(path: Path) -> Path:
    """One LSTM step drawn as its four gates between [h_{t-1}, x_t] and the two states:
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 4.6))
    axis.set(xlim=(-0.5, 11.5), ylim=(-0.4, 6.2))
    axis.axis("off")
    axis.add_patch(plt.Rectangle((0.8, 0.5), 9.2, 5.2, fill=False, linestyle="--"))
    axis.text(9.9, 0.6, "one LSTM step", ha="right", fontsize=8, style="italic")
    axis.plot([-0.3, 11.3], [5.0, 5.0], color="black", linewidth=2.2)        # the cell state
    axis.text(-0.3, 5.2, "$c_{t-1}$", fontsize=12)
    axis.text(10.9, 5.2, "$c_t$", fontsize=12)
    axis.plot([-0.3, 7.3], [1.0, 1.0], color="black", linewidth=1.4)         # [h, x] bus
    axis.text(-0.3, 0.1, "$[h_{t-1}, x_t]$", fontsize=12)
    for x, name, color in ((2.0, "f = σ(·)", "#f4c7c3"), (4.0, "i = σ(·)", "#c6dbef"),
                           (5.6, "g = tanh(·)", "#d9ead3"), (7.3, "o = σ(·)", "#fff2cc")):
        _arrow(axis, (x, 1.0), (x, 2.05))
        _box(axis, x, 2.4, name, color, width=1.3)
    for x, y, mark in ((2.0, 5.0, "×"), (4.8, 3.7, "×"), (4.8, 5.0, "+"), (8.6, 3.7, "×")):
        axis.add_patch(plt.Circle((x, y), 0.28, facecolor="white", edgecolor="black", zorder=3))
        axis.text(x, y, mark, ha="center", va="center", fontsize=13, zorder=4)
    _arrow(axis, (2.0, 2.75), (2.0, 4.72), "keep how much\nof the old memory", va="center")
    _arrow(axis, (4.0, 2.75), (4.6, 3.5))
    _arrow(axis, (5.6, 2.75), (5.0, 3.5))
    _arrow(axis, (4.8, 3.98), (4.8, 4.72), "write i·g", va="center")
    _box(axis, 8.6, 4.35, "tanh", "#eeeeee", width=0.8, height=0.42)
    axis.plot([8.6, 8.6], [5.0, 4.56], color="black", linewidth=1.4)
    _arrow(axis, (8.6, 4.14), (8.6, 3.98))
    _arrow(axis, (7.3, 2.75), (8.38, 3.52), "show how much", va="top")
    _arrow(axis, (8.88, 3.7), (11.3, 3.7))
    axis.text(10.2, 3.85, "$h_t$ (output,\nnext step)", fontsize=10)
    axis.text(5.2, -0.25, "$c_t = f \\cdot c_{t-1} + i \\cdot g$      "
              "$h_t = o \\cdot \\tanh(c_t)$", fontsize=12, ha="center")
    return _save(figure, path)
