"""--restarts N: N seeds in one run folder, the best by validation copied over it, every
restart's figures in metrics.json, and a resumed run training only what is unfinished."""
import json
import shutil

import gluon_seq
from gluon_seq import RunConfig
from gluon_seq.training.restarts import restart_folder

TINY = {"train_samples": 64, "valid_samples": 32, "test_samples": 32, "hidden": 8}


def _config(**overrides):
    return RunConfig.for_task("arithmetic", epochs=1, batch_size=16, options=dict(TINY),
                              restarts=2, **overrides)


def test_restarts_keep_the_best_by_validation_and_list_every_one(tmp_path):
    lines = []
    metrics = gluon_seq.train(_config(seed=3), tmp_path, log=lines.append)
    seeds = [r["seed"] for r in metrics["restarts"]]
    assert seeds == [3, 4]
    # The better validation metric, and on a tie (likely, at this size) the lower loss.
    best = max(metrics["restarts"], key=lambda r: (r["valid"], -r["valid_loss"]))
    assert metrics["chosen_seed"] == best["seed"] and metrics["chosen_by"] == "validation"
    chosen = json.loads((restart_folder(tmp_path, best["seed"]) / "metrics.json").read_text())
    assert metrics["value"] == chosen["value"]
    # The folder reads as the chosen run: evaluate gives its figures, export serves.
    assert gluon_seq.evaluate(tmp_path)["splits"] == chosen["splits"]
    saved = RunConfig.load(tmp_path)
    assert (saved.seed, saved.restarts, saved.kernel) == (3, 2, RunConfig.load(
        restart_folder(tmp_path, best["seed"])).kernel)
    assert gluon_seq.load_predictor(tmp_path / "export").predict(["7*3*2"])
    assert any("restart 2 of 2: seed 4" in line for line in lines)
    # After each restart, its figures and the best so far: a long run says how it stands.
    last = metrics["restarts"][1]
    assert [line for line in lines if line.startswith("seed 4: ")] == [
        f"seed 4: validation {last['valid']:.4f}, fresh {last['value']:.4f}; best so far by "
        f"validation: seed {best['seed']} ({best['valid']:.4f})"]


def test_resuming_trains_only_the_unfinished_restarts(tmp_path):
    gluon_seq.train(_config(), tmp_path, log=lambda line: None)
    unfinished = restart_folder(tmp_path, 1)
    shutil.rmtree(unfinished)  # as if the run had stopped before its second restart
    lines = []
    metrics = gluon_seq.train(_config(), tmp_path, resume=True, log=lines.append)
    assert [line for line in lines if line.startswith("restart ")] == ["restart 2 of 2: seed 1"]
    assert [r["seed"] for r in metrics["restarts"]] == [0, 1]
    assert (unfinished / "export" / "meta.json").is_file()


def test_the_memn2n_presets_use_the_restarts_their_figures_were_measured_with():
    assert RunConfig.for_task("babi", preset="memn2n").restarts == 10
    assert RunConfig.for_task("babi", preset="memn2n-joint").restarts == 3
    assert RunConfig.for_task("babi", preset="memn2n", restarts=1).restarts == 1
    assert RunConfig.for_task("babi").restarts == 1
