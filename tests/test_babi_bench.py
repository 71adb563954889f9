"""benchmarks/babi_tasks.py's estimate for the tasks nobody ran: it scales the measured runs
by training questions x story length, so a task with stories four times as long is
estimated four times as long (the 2026-12-01 table said 0.2 h for read-story on en, from
QA1 alone, and QA2 then took ten minutes)."""
import io
import json
import tarfile
from pathlib import Path

import pytest


def _story(sentences: int) -> str:
    lines = [f"{i} Mary went to the kitchen." for i in range(1, sentences + 1)]
    return "\n".join(lines + [f"{sentences + 1} Where is Mary?\tkitchen\t1"]) + "\n"


def _tarball(path: Path, stories: dict) -> Path:
    """stories: (task, subset) -> (sentences a story, stories); train and test alike."""
    from gluon_seq.data import babi as babi_data

    with tarfile.open(path, "w:gz") as archive:
        for (task, subset), (sentences, count) in stories.items():
            data = (_story(sentences) * count).encode()
            for split in ("train", "test"):
                info = tarfile.TarInfo(babi_data.member_name(task, subset, split))
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def _run(folder: Path, seconds: float) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "value": 0.5, "split": "test", "epochs": 2, "train_seconds": seconds,
        "splits": {"test": {"accuracy": 0.5}}}))
    (folder / "progress.json").write_text(json.dumps({"best_epoch": 1, "best_value": 0.5}))
    (folder / "log.csv").write_text("epoch,train_loss\n1,0.7\n2,0.6\n")


def test_estimate_scales_by_story_length_and_questions(load_script, tmp_path):
    bench = load_script("benchmarks/babi_tasks.py")
    stories = {(1, "en"): (2, 10), (2, "en"): (8, 10), (1, "en-10k"): (2, 100)}
    tarball = _tarball(tmp_path / "babi.tar.gz", stories)
    present = bench.members(tarball)
    _run(bench.folder_of(tmp_path / "out", "read-story", "en", 1, 0), seconds=36.0)

    guess = bench.estimates(tmp_path / "out", tarball, present)
    hours, missing = guess[("read-story", "en")]
    assert missing == [2]
    assert hours * 3600 == pytest.approx(36.0 * 4)  # stories 4x as long, as many questions
    hours, missing = guess[("read-story", "en-10k")]
    assert missing == [1] and hours * 3600 == pytest.approx(36.0 * 10)  # 10x the questions
    assert ("memn2n", "en") not in guess  # nothing measured, nothing guessed

    table, notes = bench.build_table(tmp_path / "out", None, guess)
    assert "`read-story` en: task 2 not run (about 0.0 h estimated)." in notes
    assert "not run: about 0.1 h estimated" in table  # the en-10k row, 360 s


def test_the_glance_cites_only_tables_that_were_measured(load_script):
    """The summary reads figures from the sections below it; a section still waiting for
    the current machine is named as not measured, never filled in."""
    glance = load_script("benchmarks/glance.py")
    text = ("### Arithmetic seq2seq, per kernel\n\n<!-- arithmetic:begin -->\n_Not yet measured "
            "on the current machine._\n<!-- arithmetic:end -->\n\n### bAbI\n\n<!-- babi-tasks:begin -->\n"
            "| configuration | mean error % | failed (> 5 %) |\n|---|---|---|\n"
            "| memn2n, best seed by validation | 15.1 | 12 |\n"
            "_Measured on X, 2026-12-01 17:55, commit c6697e0._\n<!-- babi-tasks:end -->\n")
    found = glance.sections(text)
    assert glance.quality(found) == [
        "bAbI, memn2n, best seed by validation: 15.1 % mean error, 12 failed tasks "
        "([table](#babi), 2026-12-01, c6697e0)"]
    assert not glance.measured(found, "arithmetic") and glance.serving(found) == []


def test_the_glance_lists_every_speed_goal_met_or_not(load_script):
    """The summary carries each goal line of a speed table, met or not met, and none of
    the runs' agreement lines."""
    glance = load_script("benchmarks/glance.py")
    text = ("### GRU\n\n<!-- speed-gru:begin -->\nRuns minutes apart:\n"
            "- ptb: the last 2 of 2 runs agree within 10%.\n\nGoals, from the rows above:\n"
            "- fused training >= 1.0x PyTorch: **met** (ptb 1.33x).\n"
            "- unfused inference >= 0.8x fused: **not met** (ptb 0.70x (short)).\n\n"
            "_Measured on X, 2026-12-07 14:33, commit b6892cd._\n<!-- speed-gru:end -->\n")
    lines = glance.goal_lines(glance.sections(text), "speed-gru", "GRU")
    assert [line.split(" (")[0] for line in lines] == [
        "GRU: fused training >= 1.0x PyTorch: **met**",
        "GRU: unfused inference >= 0.8x fused: **not met**"]
    assert all(line.endswith("([table](#gru), 2026-12-07, b6892cd)") for line in lines)
