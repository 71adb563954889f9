"""A damaged or foreign file in a run folder or an export folder is one sentence that
names the file, exit status 2: never a traceback.  Tests-only fuzz: each file of a
trained run and of its export is truncated, emptied, and has bytes flipped; the
command that reads it must either still work or refuse in words."""
import json
import shutil

import pytest

from gluon_seq.cli import main as gluon_seq
from gluon_seq import RunConfig
from gluon_seq.training.workflow import train

RUN_FILES = {  # file -> the command that reads it
    "config.json": "evaluate", "progress.json": "resume", "checkpoint.params": "evaluate",
    "last.params": "resume", "last.trainer": "resume", "log.csv": "resume",
}
# model-compiled-symbol.json: written where gluon_seq's compiled operators build.
EXPORT_FILES = ["meta.json", "model-symbol.json", "model-0000.params",
                "model-compiled-symbol.json"]


def _mutations(data: bytes):
    yield "truncated", data[:len(data) // 2]
    yield "emptied", b""
    for where in (0.1, 0.5, 0.9):
        flipped = bytearray(data)
        flipped[int(where * (len(data) - 1))] ^= 0xFF
        yield f"flipped at {where:.0%}", bytes(flipped)
    yield "foreign", b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("corrupt") / "run"
    config = RunConfig.for_task("babi", epochs=1, batch_size=16, options={})
    from gluon_seq.data.generated import write_qa1_tarball

    tarball = write_qa1_tarball(run.parent / "babi.tar.gz")
    config = RunConfig.for_task("babi", epochs=1, batch_size=16,
                                options={"subset": "en", "embed": 8, "hidden": 6,
                                         "tarball": str(tarball)})
    train(config, run, log=lambda line: None)
    return run


def _command(kind, folder):
    if kind == "evaluate":
        return ["evaluate", str(folder)]
    if kind == "resume":
        return ["train", "babi", "--out", str(folder), "--resume", "--epochs", "2"]
    return ["predict", str(folder), "--story", "Mary went to the garden.",
            "--question", "Where is Mary?"]


def _check(argv, name, capsys):
    try:
        code = gluon_seq(argv)
    except SystemExit as err:  # argparse help etc. would be a bug here too
        code = err.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code != 0:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (argv, err)
        assert name in lines[0], f"the error does not name {name}: {lines[0]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUN_FILES))
def test_a_damaged_run_file_is_named_or_harmless(name, trained, tmp_path, capsys):
    data = (trained / name).read_bytes()
    for how, damaged in _mutations(data):
        copy = tmp_path / how.replace(" ", "_").replace("%", "")
        shutil.copytree(trained, copy)
        (copy / name).write_bytes(damaged)
        _check(_command(RUN_FILES[name], copy), name, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORT_FILES + ["codec.json"])
def test_a_damaged_export_file_is_named_or_harmless(name, trained, tmp_path, capsys):
    source = trained if name == "codec.json" else trained / "export"
    if not (source / name).is_file():
        pytest.skip(f"this export has no {name} (gluon_seq's compiled operators do not build here)")
    data = (source / name).read_bytes()
    for how, damaged in _mutations(data):
        copy = tmp_path / how.replace(" ", "_").replace("%", "")
        shutil.copytree(trained, copy)
        target = copy if name == "codec.json" else copy / "export"
        (target / name).write_bytes(damaged)
        kind = "evaluate" if name == "codec.json" else "predict"
        _check(_command(kind, copy if name == "codec.json" else target), name, capsys)


def test_a_config_json_with_a_bad_value_names_the_file_and_the_flag(trained, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    config = json.loads((copy / "config.json").read_text())
    config["epochs"] = -3
    (copy / "config.json").write_text(json.dumps(config))
    assert gluon_seq(["evaluate", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "config.json" in err and "--epochs -3 is not allowed" in err


@pytest.mark.slow
def test_a_damaged_data_file_is_named(tmp_path, capsys):
    from gluon_seq.data.generated import write_qa1_tarball, write_synthetic_corpus

    tarball = write_qa1_tarball(tmp_path / "babi.tar.gz")
    corpus = write_synthetic_corpus(tmp_path / "ptb")
    runs = [(tarball, ["train", "babi", "--set", "en", "--tarball", str(tarball)]),
            (corpus / "ptb.train.txt", ["train", "ptb", "--corpus", str(corpus),
                                         "--embed", "4", "--hidden", "4", "--num-steps", "3"])]
    for path, argv in runs:
        data = path.read_bytes()
        for how, damaged in _mutations(data):
            path.write_bytes(damaged)
            _check(argv + ["--epochs", "1", "--out", str(tmp_path / f"run-{path.name}-{how}")],
                   path.name, capsys)
        path.write_bytes(data)
