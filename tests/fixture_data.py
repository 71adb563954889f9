"""Data files the tests write for themselves (the package's own generated sets
are in :mod:`gluon_seq.data.generated`)."""
import io
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np


def write_imdb_tarball(path: Path, reviews: Dict[str, List[Tuple[str, int]]]) -> Path:
    """A small tarball in the official IMDB layout: split -> [(text, label)]."""
    path = Path(path)
    with tarfile.open(path, "w:gz") as archive:
        for split, rows in reviews.items():
            for review_id, (text, label) in enumerate(rows):
                polarity = "pos" if label else "neg"
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"aclImdb/{split}/{polarity}/{review_id}_"
                                       f"{8 if label else 2}.txt")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def tiny_imdb_task(folder: Path, **options):
    """A tiny sentiment task on a synthetic IMDB-layout tarball in ``folder``."""
    from gluon_seq import tasks

    rng = np.random.RandomState(0)
    good, bad = ["great", "moving", "fine", "superb"], ["dull", "awful", "boring", "bad"]

    def review(label):
        words = rng.choice(good if label else bad, size=4).tolist() + ["film", "."]
        return " ".join(words) + " <br /> the end", label

    rows = {split: [review(i % 2) for i in range(n)] for split, n in (("train", 40), ("test", 10))}
    task_cls = tasks.get("sentiment")
    task = task_cls(task_cls.make_options({"vocab_size": 20, "maxlen": 12, "embed": 4,
                                           "hidden": 5, **options}))
    task.tarball = write_imdb_tarball(Path(folder) / "imdb_tiny.tar.gz", rows)
    return task
