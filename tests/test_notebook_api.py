"""What the notebooks use beyond train(): load_model, trace_gates and the plots."""
import numpy as np
import pytest

from gluon_seq import RunConfig, load_model, load_predictor, train
from gluon_seq import plots


@pytest.fixture(scope="module")
def alphabet_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("alphabet")
    config = RunConfig.for_task("alphabet", epochs=2, options={"hidden": 6})
    train(config, folder, log=lambda line: None)
    return folder


def _windows(length=3):
    return np.array([[i + k for k in range(length)] for i in range(26 - length)])  # (23, 3)


def test_load_model_answers_as_the_export_does(alphabet_run):
    import mxnet as mx

    model = load_model(alphabet_run)
    ids = _windows()
    scores = model(mx.nd.array(ids), *model.begin_state(len(ids))).asnumpy()    # (23, 26)
    exported = load_predictor(alphabet_run / "export").run([ids])[0]
    np.testing.assert_allclose(scores, exported, rtol=1e-5, atol=1e-6)


def test_trace_gates_reproduces_the_models_scores(alphabet_run):
    import mxnet as mx

    model = load_model(alphabet_run)
    ids = _windows()
    traced = model.trace_gates(ids)
    assert set(traced) == {"input_gate", "forget_gate", "candidate", "output_gate", "cell",
                           "hidden"}
    assert traced["cell"].shape == (3, 23, 6)
    # The classifier reads the last step's hidden state: the trace must lead to its scores.
    from_trace = model.output(mx.nd.array(traced["hidden"][-1])).asnumpy()
    scores = model(mx.nd.array(ids), *model.begin_state(len(ids))).asnumpy()
    np.testing.assert_allclose(from_trace, scores, rtol=1e-4, atol=1e-5)


def test_gate_plot_labels_every_window_and_refuses_a_mismatch(alphabet_run, tmp_path):
    model = load_model(alphabet_run)
    ids = _windows()
    names = ["".join(chr(65 + i) for i in row) for row in ids]
    traced = model.trace_gates(ids)
    png = plots.save_gate_plot(traced, names, tmp_path / "gates.png", units=4)
    assert png.stat().st_size > 10_000
    with pytest.raises(ValueError, match="23 strings of 3 symbols"):
        plots.save_gate_plot(traced, names[:-1], tmp_path / "bad.png")


def test_probability_chart_and_run_comparison(alphabet_run, tmp_path, monkeypatch):
    png = plots.save_probabilities([0.1, 0.7, 0.2], ["0", "1", "2"], tmp_path / "p.png")
    assert png.is_file()
    with pytest.raises(ValueError, match="2 probabilities for 3 labels"):
        plots.save_probabilities([0.5, 0.5], ["0", "1", "2"], tmp_path / "bad.png")
    png = plots.plot_runs({"a": alphabet_run, "b": alphabet_run}, tmp_path / "runs.png",
                          as_error=True)
    assert png.stat().st_size > 5_000
    assert plots.save_lstm_cell_diagram(tmp_path / "cell.png").stat().st_size > 10_000
    saved = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: saved.append(figure) or path)
    plots.plot_runs({"first": alphabet_run}, tmp_path / "r.png", label="my axis")
    plots.plot_runs({"first": alphabet_run}, tmp_path / "r.png", as_error=True)
    assert [f.axes[0].get_ylabel() for f in saved] == ["my axis", "valid error (%)"]
    assert saved[0].axes[0].get_legend().get_texts()[0].get_text() == "first"
