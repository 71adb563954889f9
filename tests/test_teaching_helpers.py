"""The display helpers the notebooks 04-06 use (gluon_seq.plots)."""
import pytest

from gluon_seq.plots import markdown_table


def test_markdown_table_has_a_header_a_rule_and_one_line_per_row():
    text = markdown_table(["expression", "predicted"], [["7*3*2", "42"], ["1|2", 3]])
    assert text.splitlines() == ["| expression | predicted |", "|---|---|",
                                 "| 7*3*2 | 42 |", "| 1\\|2 | 3 |"]


def test_markdown_table_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a", "b"], [["only one"]])


def _export(tmp_path, **options):
    """A tiny untrained bAbI export (the source model, or MemN2N with model="memn2n")."""
    from gluon_seq.data.generated import write_qa1_tarball
    from gluon_seq.exporting.writer import export_model
    from gluon_seq.rnn import LayerFactory
    from gluon_seq.serving import load_predictor
    from gluon_seq.tasks.babi import BabiTask

    values = dict(BabiTask.tiny_options, tarball=str(write_qa1_tarball(tmp_path / "qa1.tar.gz")),
                  **options)
    task = BabiTask.for_options(BabiTask.make_options(values))
    task.prepare()
    model = task.build_model(LayerFactory("fused"), for_export=True)
    model.initialize(task.initializer())
    return load_predictor(export_model(task, model, tmp_path / "export"))


STORY = "Mary went to the bathroom. John went to the hallway. Mary went to the garden."


def test_hop_weights_give_a_row_per_story_sentence_and_a_column_per_hop(tmp_path):
    from gluon_seq.plots import hop_weights, plot_hops

    predictor = _export(tmp_path, model="memn2n", embed=6, hops=3)
    weights, sentences, answer = hop_weights(predictor, STORY, "Where is Mary?")
    assert weights.shape == (3, 3) and len(sentences) == 3
    assert sentences[-1] == ["Mary", "went", "to", "the", "garden", "."]  # as the user wrote it
    assert ((weights >= 0) & (weights <= 1)).all()
    assert answer["answer"] in predictor.codec.vocab
    png = plot_hops(predictor, STORY, "Where is Mary?", tmp_path / "hops.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_entnet_exports_gates_a_column_per_memory_block(tmp_path):
    from gluon_seq.plots import hop_weights, plot_hops

    predictor = _export(tmp_path, model="entnet", embed=6, slots=4)
    assert predictor.meta["outputs"][1]["rows"] == "block"
    weights, sentences, _ = hop_weights(predictor, STORY, "Where is Mary?")
    assert weights.shape == (3, 4) and ((weights > 0) & (weights < 1)).all()  # sigmoid gates
    png = plot_hops(predictor, STORY, "Where is Mary?", tmp_path / "gates.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hop_weights_refuse_the_flat_source_model(tmp_path):
    from gluon_seq.plots import hop_weights

    with pytest.raises(ValueError, match="MemN2N"):
        hop_weights(_export(tmp_path), STORY, "Where is Mary?")
