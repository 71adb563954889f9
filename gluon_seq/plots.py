"""Figures saved as PNG files with matplotlib's file-only Agg backend (no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np


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
