"""serving/format.py: an export folder's meta.json, of today's format and of older ones."""
import json
import shutil
from pathlib import Path

import pytest

from gluon_seq.serving.format import FORMAT_VERSION, META_FILE, REQUIRED, read_meta, upgrade_meta
from gluon_seq.util.errors import UserError

OLD_EXPORT = Path(__file__).parent / "fixtures" / "runs_448da8f" / "arithmetic" / "export"


@pytest.fixture
def export(tmp_path):
    return Path(shutil.copytree(OLD_EXPORT, tmp_path / "export"))


def test_a_format_1_meta_reads_as_today_with_its_lstm_cell(export):
    on_disk = json.loads((export / META_FILE).read_text())
    assert on_disk["format_version"] == 1 and "cell" not in on_disk
    meta = read_meta(export)
    assert meta["format_version"] == FORMAT_VERSION and meta["cell"] == "lstm"
    assert all(key in meta for key in REQUIRED)
    assert json.loads((export / META_FILE).read_text()) == on_disk  # read, never rewritten


def test_a_meta_of_a_format_this_version_does_not_know_is_refused():
    with pytest.raises(ValueError, match="format_version 7"):
        upgrade_meta({"format_version": 7})


@pytest.mark.parametrize("damage,phrase", [
    (lambda m: m.pop("codec"), "it lacks codec"),
    (lambda m: m.update(inputs=[]), "it lists no inputs"),
    (lambda m: m["inputs"][0].update(role="bias"), "is not a name, role and shape"),
    (lambda m: m.update(format_version=3), "format_version 3"),
])
def test_a_damaged_meta_is_one_sentence_naming_the_file(export, damage, phrase):
    meta = json.loads((export / META_FILE).read_text())
    damage(meta)
    (export / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(UserError) as info:
        read_meta(export)
    assert "meta.json is corrupt" in str(info.value) and phrase in str(info.value)
    assert "\n" not in str(info.value)


def test_a_folder_missing_a_file_names_it(export):
    (export / "model-0000.params").unlink()
    with pytest.raises(UserError, match="model-0000.params missing"):
        read_meta(export)
