"""Run and export folders written by main at 448da8f (before the redesign) still
evaluate and predict with the same numbers, under both kernels.

``fixtures/runs_448da8f`` was made once by its ``generate.py`` at that commit:
one tiny run per task, trained with every kernel setting the old main wrote
(``auto``, ``auto-fast``, ``fused``, ``unfused``), with what ``evaluate`` printed
for each kernel and the export's answers and raw outputs on its example inputs.
The PTB and bAbI runs name their data by paths relative to the fixture folder,
so the tests run from a copy of it.  Those exports hold no compiled graph
(``model-compiled-symbol.json``), so they run their portable one; re-exported,
they gain it, with the same numbers."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gluon_seq.cli import main as gluon_seq

FIXTURES = Path(__file__).parent / "fixtures" / "runs_448da8f"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("legacy") / "runs"
    shutil.copytree(FIXTURES, folder)
    return folder


def _close(got, want):
    if isinstance(want, dict):
        assert set(got) == set(want)
        for key in want:
            _close(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            _close(a, b)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-7)
    else:
        assert got == want


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("kernel", ["fused", "unfused"])
def test_an_old_run_folder_evaluates_to_the_same_numbers(name, kernel, legacy, monkeypatch,
                                                         capsys):
    monkeypatch.chdir(legacy)
    assert gluon_seq(["evaluate", name, "--rnn-backend", kernel]) == 0
    printed = json.loads(capsys.readouterr().out)
    _close(printed["splits"], EXPECTED[name]["evaluate"][kernel])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_old_export_folder_predicts_the_same_answers(name, legacy):
    from gluon_seq.serving import load_predictor

    model = load_predictor(legacy / name / "export", "mxnet")
    assert model.graph == "portable"  # 448da8f wrote no compiled graph
    examples = model.meta["example_inputs"]
    _close(model.predict(examples), EXPECTED[name]["predict"])
    raw = np.load(legacy / name / "expected_outputs.npz")
    got = model.run(model.codec.encode(examples))
    assert len(got) == len(raw.files)
    for index, array in enumerate(got):
        np.testing.assert_allclose(array, raw[f"arr_{index}"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_old_run_folder_re_exports(name, legacy, tmp_path, monkeypatch):
    monkeypatch.chdir(legacy)
    copy = tmp_path / name
    shutil.copytree(legacy / name, copy)
    shutil.rmtree(copy / "export")
    assert gluon_seq(["export", str(copy)]) == 0
    from gluon_seq.serving import load_predictor

    raw = np.load(legacy / name / "expected_outputs.npz")
    for graph in ("auto", "portable"):  # auto: the compiled graph, where the operators load
        model = load_predictor(copy / "export", "mxnet", graph=graph)
        _close(model.predict(model.meta["example_inputs"]), EXPECTED[name]["predict"])
        got = model.run(model.codec.encode(model.meta["example_inputs"]))
        for index in range(len(raw.files)):  # bAbI's exports now add the attention after
            np.testing.assert_allclose(got[index], raw[f"arr_{index}"], rtol=1e-5, atol=1e-6)
