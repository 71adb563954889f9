"""``--restarts N``: N seeds of one configuration in one run folder, the best by validation kept.

Each restart is a whole run folder of its own, ``RUN_DIR/restarts/seed-S`` for seeds
``seed, seed + 1, ...``, trained (or resumed, or left alone when finished) by the one
training function.  The restart with the best validation value is then copied over
``RUN_DIR``, so that the folder reads as that run (evaluate, export, serve, resume), and
``metrics.json`` adds every restart's figures.

Validation, not training error, picks the restart: MemN2N's reference code keeps the
lowest training error of its 10 runs, but validation questions are held out of
training, so they pick the seed that answers unseen questions best, and the test split
stays untouched by the choice.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .. import tasks
from ..tasks.metrics import validation_rank
from ..util.files import atomic_save, atomic_write_text, read_json
from .config import CONFIG_FILE, RunConfig
from .run_folder import EXPORT_DIR, METRICS_FILE, PROGRESS_FILE, read_progress

RESTARTS_DIR = "restarts"


def restart_folder(run_dir: Path, seed: int) -> Path:
    return Path(run_dir) / RESTARTS_DIR / f"seed-{seed}"


def run_restarts(config: RunConfig, run_dir: Path, train_one: Callable, log: Callable,
                 given: Optional[Sequence[str]]) -> Dict:
    """Train ``config.restarts`` restarts with ``train_one(config, folder, resume, log,
    given)`` (the workflow's ``train``, each config with restarts=1), keep the best; its
    metrics, with every restart's under "restarts"."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / CONFIG_FILE).is_file():
        config.save(run_dir)  # what --resume compares with until a restart is chosen
    per_restart = [name for name in given or () if name not in ("seed", "restarts")]
    task_class = tasks.get(config.task)
    results = []
    for index in range(config.restarts):
        one = dataclasses.replace(config, seed=config.seed + index, restarts=1)
        folder = restart_folder(run_dir, one.seed)
        progress = read_json(folder / PROGRESS_FILE) if (folder / PROGRESS_FILE).is_file() else {}
        if not (folder / METRICS_FILE).is_file() or progress.get("epochs_done", 0) < one.epochs:
            log(f"restart {index + 1} of {config.restarts}: seed {one.seed}")
            train_one(one, folder, bool(progress), log,
                      per_restart if given is not None else None)
        results.append(_summary(folder, one.seed))
        log(_standing(results, task_class))
    best = _best(results, task_class)
    log(f"restarts: seed {best['seed']} validated best ({best['valid']:.4f})")
    _adopt(restart_folder(run_dir, best["seed"]), run_dir)
    chosen = RunConfig.load(restart_folder(run_dir, best["seed"]))
    dataclasses.replace(chosen, seed=config.seed, restarts=config.restarts).save(run_dir)
    metrics = dict(read_json(restart_folder(run_dir, best["seed"]) / METRICS_FILE),
                   chosen_seed=best["seed"], chosen_by="validation", restarts=results)
    atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=2))
    return metrics


def _best(results: List[Dict], task_class) -> Dict:
    return max(results, key=lambda r: validation_rank(task_class.metric_class, r["valid"],
                                                      r["valid_loss"]))


def _standing(results: List[Dict], task_class) -> str:
    """The latest restart's figures and the best so far, for a run that takes hours."""
    last, best = results[-1], _best(results, task_class)
    return (f"seed {last['seed']}: validation {last['valid']:.4f}, "
            f"{task_class.test_splits[0]} {last['value']:.4f}; best so far by validation: "
            f"seed {best['seed']} ({best['valid']:.4f})")


def _summary(folder: Path, seed: int) -> Dict:
    progress, metrics = read_progress(folder), read_json(folder / METRICS_FILE)
    return {"seed": seed, "valid": progress["best_value"],
            "valid_loss": progress["best_loss"], "best_epoch": progress["best_epoch"],
            "value": metrics["value"], "splits": metrics["splits"],
            "train_seconds": metrics["train_seconds"]}


def _adopt(source: Path, run_dir: Path) -> None:
    """Copy the run in ``source`` over ``run_dir``, file by file and atomically; its
    export folder is staged beside the old one and renamed into place."""
    for path in _files(source):
        if path.name not in (CONFIG_FILE, METRICS_FILE):
            atomic_save(run_dir / path.name, lambda tmp, src=path: shutil.copyfile(src, tmp))
    if (source / EXPORT_DIR).is_dir():
        staged = Path(tempfile.mkdtemp(prefix=".export.", dir=run_dir))
        try:
            shutil.copytree(source / EXPORT_DIR, staged / EXPORT_DIR)
            shutil.rmtree(run_dir / EXPORT_DIR, ignore_errors=True)
            (staged / EXPORT_DIR).rename(run_dir / EXPORT_DIR)
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def _files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())
