"""The run folder's pieces: RunConfig and its file, the upgrade point for older folders,
saved artifacts, progress, atomic files and the held-out split."""
import json
import os
import stat

import numpy as np
import pytest

from gluon_seq import RunConfig
from gluon_seq.data import held_out
from gluon_seq.training.run_folder import load_artifacts, read_progress, save_artifacts
from gluon_seq.training.upgrade import CONFIG_FORMAT, codec_file, upgrade_codec, upgrade_config
from gluon_seq.util.errors import UserError
from gluon_seq.util.files import atomic_save, atomic_write_text, read_json

ARITH = {"task": "arithmetic", "epochs": 1, "batch_size": 8, "lr": 0.001}


def test_config_json_records_its_format_the_request_and_the_kernel(tmp_path):
    config = RunConfig.for_task("arithmetic", rnn_backend="auto-fast", kernel="fused")
    config.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["format_version"] == CONFIG_FORMAT
    assert (saved["rnn_backend"], saved["kernel"]) == ("auto-fast", "fused")
    assert RunConfig.load(tmp_path) == config


@pytest.mark.parametrize("recorded,kernel", [("fused", "fused"), ("unfused", "unfused"),
                                             ("auto", "unfused"), ("auto-fast", "unfused")])
def test_a_format_1_config_keeps_its_value_as_the_request_and_gains_the_kernel(recorded, kernel):
    upgraded = upgrade_config(dict(ARITH, rnn_backend=recorded))
    assert (upgraded["rnn_backend"], upgraded["kernel"]) == (recorded, kernel)
    assert RunConfig(**upgraded).kernel == kernel


def test_a_format_2_memn2n_config_keeps_the_linear_start_it_trained_with():
    babi = dict(ARITH, task="babi", kernel="unfused", format_version=2)
    older = upgrade_config(dict(babi, options={"model": "memn2n", "subset": "en"}))
    assert older["options"] == {"model": "memn2n", "subset": "en", "linear_start": 20}
    given = upgrade_config(dict(babi, options={"model": "memn2n", "linear_start": 5}))
    assert given["options"]["linear_start"] == 5
    assert upgrade_config(dict(babi, options={"subset": "en"}))["options"] == {"subset": "en"}
    today = RunConfig.for_task("babi", options={"model": "memn2n"})
    assert "linear_start" not in today.options
    from gluon_seq.training.run_folder import make_task
    assert make_task(today).options.linear_start == 40


def test_a_config_of_a_newer_format_is_one_sentence(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(dict(ARITH, format_version=99)))
    with pytest.raises(UserError, match=r"config\.json: format_version 99 is not one this "
                                        r"gluon_seq reads .*upgrade gluon_seq\.$"):
        RunConfig.load(tmp_path)


def test_older_codec_files_are_found_and_read_as_today(tmp_path):
    assert codec_file(tmp_path, "ptb") == tmp_path / "codec.json"  # neither: today's name
    (tmp_path / "ptb_vocab.json").write_text(json.dumps(["<eos>", "<unk>", "the"]))
    assert codec_file(tmp_path, "ptb") == tmp_path / "ptb_vocab.json"
    assert upgrade_codec(["a", "b"]) == {"type": "words", "vocab": ["a", "b"]}
    (tmp_path / "codec.json").write_text("{}")
    assert codec_file(tmp_path, "ptb") == tmp_path / "codec.json"  # today's file wins


def test_artifacts_round_trip_through_the_run_folder(tmp_path):
    from gluon_seq import tasks

    task = tasks.get("ptb").tiny(tmp_path)
    task.prepare()
    save_artifacts(task, tmp_path)
    again = tasks.get("ptb").tiny(tmp_path)
    load_artifacts(again, tmp_path)  # no data read
    assert again.codec().vocab == task.codec().vocab
    assert again.example_inputs() == task.example_inputs()
    (tmp_path / "codec.json").write_text('{"type": "words", "vocab": 3}')
    with pytest.raises(UserError, match=r"codec\.json"):
        load_artifacts(tasks.get("ptb").tiny(tmp_path), tmp_path)


def test_progress_must_hold_every_field_it_commits(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        read_progress(tmp_path)
    good = {"epochs_done": 2, "best_value": 0.5, "best_loss": 0.25, "best_epoch": 1,
            "train_seconds": 3.0}
    (tmp_path / "progress.json").write_text(json.dumps(good))
    assert read_progress(tmp_path) == good
    (tmp_path / "progress.json").write_text(json.dumps(dict(good, epochs_done=-1)))
    with pytest.raises(UserError, match="'epochs_done' must be a whole number"):
        read_progress(tmp_path)
    (tmp_path / "progress.json").write_text(json.dumps(dict(good, best_loss="low")))
    with pytest.raises(UserError, match="'best_loss' must be a finite number"):
        read_progress(tmp_path)
    # Written before validation losses were kept: read with none.
    older = {k: v for k, v in good.items() if k != "best_loss"}
    (tmp_path / "progress.json").write_text(json.dumps(older))
    assert read_progress(tmp_path) == dict(good, best_loss=None)


def test_validation_ranks_by_the_metric_then_by_the_lower_loss():
    from gluon_seq.tasks.metrics import ExactMatch, Perplexity, validation_rank

    rank = lambda *args: validation_rank(ExactMatch, *args)
    assert rank(0.99, 0.001) < rank(1.0, 0.5)           # the metric first
    assert rank(1.0, 0.01) < rank(1.0, 0.002)           # a tie: the lower loss
    assert rank(1.0, 0.002) < rank(1.0, None)           # an older result keeps its place
    assert validation_rank(Perplexity, 90.0, 4.5) > validation_rank(Perplexity, 95.0, 4.0)


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_leftovers(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, '{"value": 1}')

    def fail(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_save(path, fail)
    assert read_json(path) == {"value": 1} and os.listdir(tmp_path) == ["metrics.json"]


def test_atomic_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


def test_read_json_names_a_file_that_is_not_an_object(tmp_path):
    assert read_json(tmp_path / "absent.json") == {}
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(UserError, match=r"list\.json holds a JSON list, not an object"):
        read_json(tmp_path / "list.json")


def test_the_held_out_split_is_fixed_disjoint_and_never_empty():
    kept, held = held_out(100, 0.1, seed=7)
    again, held_again = held_out(100, 0.1, seed=7)
    assert len(held) == 10 and len(kept) == 90 and not set(kept) & set(held)
    np.testing.assert_array_equal(held, held_again)
    with pytest.raises(UserError, match="--valid-fraction 0.01 of 10 examples"):
        held_out(10, 0.01, seed=7)
