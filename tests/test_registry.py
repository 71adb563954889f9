"""Registries find every module, whatever was imported first."""
import subprocess
import sys


def test_importing_one_task_module_first_still_finds_all_tasks():
    code = ("import gluon_seq.tasks.arithmetic, pkgutil, gluon_seq.tasks as t; "
            "mods = {m.name for m in pkgutil.iter_modules(t.__path__)} - {'base', 'metrics'}; "
            "assert 'arithmetic' in t.names() and len(t.names()) >= len(mods), t.names()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_importing_one_codec_first_still_finds_all_codecs():
    code = ("import gluon_seq.codecs.chars, pkgutil, gluon_seq.codecs as c; c._discover(); "
            "mods = {m.name for m in pkgutil.iter_modules(c.__path__)}; "
            "assert len(c._CODECS) >= len(mods), sorted(c._CODECS)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
