"""The real CLI, end to end with tiny settings, and its bad-input contract."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

TINY = ["--epochs", "1", "--train-samples", "128", "--valid-samples", "32", "--test-samples", "32"]


def gluon_seq(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gluon_seq", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "arith"
    result = gluon_seq("train", "arithmetic", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout[result.stdout.index("{"):])
    assert metrics["task"] == "arithmetic" and metrics["split"] == "fresh"
    return out


def test_predict_prints_one_line_per_input(run_dir):
    result = gluon_seq("predict", run_dir / "export", "7*3*2", "10+10+10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("7*3*2 =") and lines[1].startswith("10+10+10 =")


def test_evaluate_prints_the_metrics_json(run_dir):
    result = gluon_seq("evaluate", run_dir, "--rnn-backend", "fused")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["rnn_backend"] == "fused"
    assert metrics["value"] == pytest.approx(saved["value"])


def test_export_rewrites_the_folder(run_dir):
    # A stray file in the old folder is gone after a rewrite: the folder was replaced whole.
    stray = run_dir / "export" / "stray.txt"
    stray.write_text("from the old export")
    meta = json.loads((run_dir / "export" / "meta.json").read_text())
    meta["example_inputs"] = ["stale"]
    (run_dir / "export" / "meta.json").write_text(json.dumps(meta))
    result = gluon_seq("export", run_dir)
    assert result.returncode == 0, result.stderr
    assert not stray.exists()
    rewritten = json.loads((run_dir / "export" / "meta.json").read_text())
    assert rewritten["rnn_backend"] == "fused" and rewritten["example_inputs"] != ["stale"]


def test_export_auto_fast_times_both_kernels_and_keeps_the_faster(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    result = gluon_seq("export", run, "--rnn-backend", "auto-fast")
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("auto-fast:"))
    fused, unfused = (float(w) for w in line.replace("(", " ").split() if w.replace(".", "").isdigit())
    chosen = json.loads((run / "export" / "meta.json").read_text())["rnn_backend"]
    # Printed to two decimals, the times may tie; rounding never swaps their order.
    times = {"fused": fused, "unfused": unfused}
    assert times[chosen] <= min(times.values())
    assert f"exporting the {chosen} kernel" in line
    answer = gluon_seq("predict", run / "export", "7*3*2")
    assert answer.returncode == 0 and answer.stdout.startswith("7*3*2 =")


@pytest.mark.parametrize("bad,phrase", [
    ("7a3", "outside the set"),
    ("123456789", "the most this model takes is 8"),
    ("", "empty"),
    ("   ", "empty"),
])
def test_bad_predict_input_is_one_line_and_exit_2(run_dir, bad, phrase):
    result = gluon_seq("predict", run_dir / "export", "1+1+1", bad)
    assert result.returncode == 2
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""  # nothing half-printed before the error


@pytest.mark.parametrize("args,phrase", [
    (["predict", "/nonexistent/export", "1+1"], "does not exist"),
    (["evaluate", "/nonexistent/run"], "not a gluon-seq run folder"),
    (["train", "arithmetic", "--ctx", "gpu:0", "--epochs", "1"], "--ctx cpu"),
    (["train", "arithmetic", "--preset", "nope"], "no preset"),
    (["frobnicate"], "unknown command"),
])
def test_user_errors_exit_2_without_traceback(tmp_path, args, phrase):
    result = gluon_seq(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_into_a_run_of_another_task_is_refused(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "arithmetic"
    result = gluon_seq("train", "alphabet", "--out", run_dir, "--resume", "--epochs", "1")
    assert result.returncode == 2
    assert "holds a 'arithmetic' run" in result.stderr


def test_resume_with_a_changed_flag_is_refused_and_leaves_the_run_alone(run_dir):
    before = (run_dir / "progress.json").read_text()
    result = gluon_seq("train", "arithmetic", *TINY, "--out", run_dir, "--resume", "--hidden", "16")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--hidden 16 differs from the saved run's 32" in result.stderr
    assert (run_dir / "progress.json").read_text() == before


def test_module_and_console_script_agree():
    import shutil

    script = shutil.which("gluon-seq", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script, "console script gluon-seq is not installed"
    result = subprocess.run([script, "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--rnn-backend" in result.stdout


def test_cli_offers_exactly_the_kernels_the_layer_knows():
    from gluon_seq.cli import commands as cli
    from gluon_seq.rnn import kernels

    parser = cli._train_parser("arithmetic")
    action = next(a for a in parser._actions if "--rnn-backend" in a.option_strings)
    assert tuple(action.choices) == kernels.CHOICES
    assert set(kernels.KERNELS) <= set(kernels.CHOICES)


def test_the_help_lists_every_command_and_train_help_every_default_and_preset(capsys):
    from gluon_seq import tasks
    from gluon_seq.cli import commands, main

    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {name} " in listing for name in commands.COMMANDS)
    assert main([]) == 2 and "commands:" in capsys.readouterr().err
    for name in tasks.names():
        task_cls = tasks.get(name)
        assert set(task_cls.preset_help) == set(task_cls.presets), name
        text = commands._train_parser(name).format_help()
        assert f"(default: {task_cls.defaults['epochs']})" in text
        assert all(f"  {preset} " in text for preset in task_cls.presets)
        for action in commands._train_parser(name)._actions:
            if action.option_strings and action.dest != "help":
                assert "default" in (action.help or ""), (name, action.option_strings)
