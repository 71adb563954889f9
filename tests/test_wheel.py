"""The built wheel, installed into a fresh virtual environment, is a working gluon_seq:
its compiled operators build from the sources the wheel ships, and ``gluon-seq train``
runs from it (outside the checkout, so nothing is read from the source tree)."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _source_copy(target: Path) -> Path:
    """The checkout's files without its venv, runs and build leftovers (pip builds in the tree)."""
    skip = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                  "__pycache__", ".pytest_cache", "notebooks", "tests")
    return Path(shutil.copytree(ROOT, target, ignore=skip))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv holding only the built wheel, its environment)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = _source_copy(tmp / "source")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp / "dist"), str(source)])
    wheel = next((tmp / "dist").glob("gluon_seq-*.whl"))
    _run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")])
    python = tmp / "venv" / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
          str(wheel)])
    # The dependencies (mxnet, gluonnlp, ...) come from this environment's site-packages,
    # named in a .pth file; the .pth files inside it (the editable checkout) are not read.
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(purelib.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    env = dict(os.environ, GLUON_SEQ_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)  # the installed wheel alone, not a checkout named there
    return python, env, tmp


def test_the_installed_wheel_loads_its_compiled_operators(installed):
    python, env, tmp = installed
    code = ("import gluon_seq, sys; from gluon_seq.rnn import compiled_ops; "
            "print(gluon_seq.__file__); ok = compiled_ops.available(); "
            "print(ok, compiled_ops.unavailable_reason()); sys.exit(0 if ok else 1)")
    done = _run([str(python), "-c", code], cwd=tmp, env=env)
    where = done.stdout.splitlines()[0]
    assert str(tmp / "venv") in where and str(ROOT) not in where
    assert list((tmp / "cache").glob("libgluon_seq_ops-*.so"))  # built from the wheel's sources


def test_gluon_seq_train_runs_from_the_installed_wheel(installed):
    python, env, tmp = installed
    out = tmp / "run"
    _run([str(python.parent / "gluon-seq"), "train", "arithmetic", "--epochs", "1",
          "--train-samples", "64", "--valid-samples", "32", "--test-samples", "32",
          "--out", str(out)], cwd=tmp, env=env)
    assert (out / "metrics.json").is_file() and (out / "export" / "model-symbol.json").is_file()
    assert (out / "export" / "model-compiled-symbol.json").is_file()  # the operators loaded
