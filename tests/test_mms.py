"""The MMS custom service: load from model_dir, answer a batch of requests in
order, a bad request gets its own 400, and the manifest names our handler."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import importlib

import pytest

from gluon_seq.codecs import register_codec
from gluon_seq.codecs.chars import CharCodec
from gluon_seq.util.errors import UserError
from gluon_seq.serving import load_predictor, mms
from gluon_seq.serving.mms import GluonSeqService, request_inputs, write_mar_manifest
from gluon_seq.serving.requests import DEFAULT_MAX_INPUTS


class FakeContext:
    """The part of mms.context.Context that a custom service uses."""

    def __init__(self, model_dir):
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None, "batch_size": 4,
                                  "server_name": "MMS", "server_version": "1.1.11"}
        self.statuses = {}

    def set_response_status(self, code=200, phrase="", idx=0):  # MMS 1.1.11's name
        self.statuses[idx] = code


@pytest.fixture(scope="module")
def folder(tmp_path_factory, export_untrained):
    from gluon_seq.tasks import get

    return export_untrained(get("arithmetic")(), tmp_path_factory.mktemp("mms") / "arith" / "export")[1]


@pytest.fixture(scope="module")
def predict(folder):
    return load_predictor(folder).predict


@pytest.mark.parametrize("entry,inputs", [
    ({"body": {"inputs": ["7*3*2"]}}, ["7*3*2"]),                 # JSON parsed by MMS
    ({"body": b'{"inputs": ["7*3*2", "1+1"]}'}, ["7*3*2", "1+1"]),
    ({"body": bytearray(b'["6*7"]')}, ["6*7"]),
    ({"data": "9*9*9\n"}, ["9*9*9"]),                              # plain text form field
    ({"body": ["1+2"]}, ["1+2"]),
])
def test_request_bodies_in_every_shape_mms_sends(entry, inputs):
    assert request_inputs(entry) == inputs


@pytest.mark.parametrize("entry,phrase", [
    ({}, "no body"), ({"body": b"\xff\xfe"}, "UTF-8"), ({"body": b"{oops"}, "not valid JSON"),
    ({"body": {"inputs": []}}, "empty"), ({"body": {"x": 1}}, '"inputs" field'), ({"body": ""}, "empty"),
])
def test_unusable_bodies_are_user_errors(entry, phrase):
    with pytest.raises(UserError, match=phrase):
        request_inputs(entry)


def test_initialize_and_handle_a_batch_with_one_bad_request(folder, predict):
    service = GluonSeqService()
    context = FakeContext(folder)
    service.initialize(context)
    batch = [{"body": {"inputs": ["7*3*2", "10+10+10"]}}, {"body": {"inputs": ["7/3"]}},
             {"body": b"4*5+6"}]
    answers = service.handle(batch, context)
    assert answers[0] == {"outputs": predict(["7*3*2", "10+10+10"])}
    assert "'/'" in answers[1]["error"] and context.statuses == {1: 400}
    assert answers[2] == {"outputs": predict(["4*5+6"])}


def test_a_request_over_the_input_cap_is_a_400_and_the_others_are_answered(folder, predict):
    service, context = GluonSeqService(), FakeContext(folder)
    service.initialize(context)
    over = {"body": {"inputs": ["1+1"] * (DEFAULT_MAX_INPUTS + 1)}}
    answers = service.handle([over, {"body": b"6*7"}], context)
    assert f"at most {DEFAULT_MAX_INPUTS} per request" in answers[0]["error"]
    assert context.statuses == {0: 400} and answers[1] == {"outputs": predict(["6*7"])}


@pytest.mark.parametrize("entry", ["gluon_seq.serving.mms:handle",
                                   "gluon_seq.mms_handler:handle"])  # in manifests already written
def test_module_level_handle_follows_the_mms_load_then_predict_calls(folder, predict, monkeypatch,
                                                                     entry):
    monkeypatch.setattr(mms, "_service", GluonSeqService())
    module, _, function = entry.partition(":")
    handle = getattr(importlib.import_module(module), function)  # as MMS resolves it
    context = FakeContext(folder)
    assert handle(None, context) is None  # MMS's load-time call
    assert mms._service.initialized
    assert handle([{"body": {"inputs": ["1+2+3"]}}], context) == [{"outputs": predict(["1+2+3"])}]


@register_codec("test_mms_iterative")
class _IterativeCodec(CharCodec):
    """Overrides predict, as generating codecs do: the handler must call it whole."""
    calls = 0

    def predict(self, run, inputs):
        type(self).calls += 1
        return [self.decode(run(self.encode([text])))[0] for text in inputs]


def test_codecs_that_override_predict_are_called_per_request(folder, predict, tmp_path):
    other = tmp_path / "iterative"
    shutil.copytree(folder, other)
    meta = json.loads((other / "meta.json").read_text())
    meta["codec"]["type"] = "test_mms_iterative"
    (other / "meta.json").write_text(json.dumps(meta))
    service, context = GluonSeqService(), FakeContext(other)
    service.initialize(context)
    answers = service.handle([{"body": {"inputs": ["7*3*2", "6*7"]}}, {"body": b"7/3"}], context)
    assert answers[0] == {"outputs": predict(["7*3*2", "6*7"])}
    assert "'/'" in answers[1]["error"] and context.statuses == {1: 400}
    assert not service.batched and _IterativeCodec.calls == 2


def test_manifest_has_the_model_archiver_fields(folder, tmp_path):
    copy = tmp_path / "arith" / "export"
    shutil.copytree(folder, copy)
    manifest = json.loads(write_mar_manifest(copy).read_text())
    assert manifest["runtime"] == "python3"
    assert manifest["model"]["modelName"] == "arith"
    assert manifest["model"]["handler"] == "gluon_seq.serving.mms:handle"
    for key in ("modelServerVersion", "implementationVersion", "specificationVersion"):
        assert manifest[key] == "1.0"
    assert (copy / "MAR-INF" / "MANIFEST.json").is_file()


def test_manifest_refuses_an_incomplete_folder(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(UserError, match="incomplete"):
        write_mar_manifest(tmp_path / "half")


def _mms_binary():
    """multi-model-server from $MMS_BIN or PATH (it is not a project dependency)."""
    return os.environ.get("MMS_BIN") or shutil.which("multi-model-server")


def _free_port() -> int:
    # MMS refuses ephemeral-range ports ("Invalid port number" for 50681), so probe lower ones.
    for port in random.Random(os.getpid()).sample(range(20000, 32000), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(not _mms_binary() or not shutil.which("java"),
                    reason="multi-model-server (set MMS_BIN) or java not installed")
def test_multi_model_server_serves_the_export(folder, predict, tmp_path):
    httpx = pytest.importorskip("httpx")
    store = tmp_path / "store"
    shutil.copytree(folder, store / "arith")
    write_mar_manifest(store / "arith")
    port, management = _free_port(), _free_port()
    config = tmp_path / "config.properties"
    config.write_text(f"inference_address=http://127.0.0.1:{port}\n"
                      f"management_address=http://127.0.0.1:{management}\n"
                      f"model_store={store}\ndefault_workers_per_model=1\n")
    binary = _mms_binary()
    mms_python = Path(binary).parent / "python"
    mms_site = subprocess.run([str(mms_python), "-c", "import mms, os; "
                               "print(os.path.dirname(os.path.dirname(mms.__file__)))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    # MMS starts its workers with the resolved interpreter, outside any venv: hand
    # them both MMS's packages and ours.
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([mms_site] + [p for p in sys.path if p]))
    log = open(tmp_path / "mms.log", "w")
    proc = subprocess.Popen([binary, "--start", "--foreground", "--mms-config", str(config),
                             "--model-store", str(store), "--models", "arith=arith"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/predictions/arith"
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "mms.log").read_text()[-2000:]
            try:
                answer = httpx.post(url, json={"inputs": ["7*3*2", "1+2+3"]}, timeout=10)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline, "MMS did not serve the model within 3 minutes"
            time.sleep(1)
        assert answer.json() == {"outputs": predict(["7*3*2", "1+2+3"])}
        bad = httpx.post(url, json={"inputs": ["7/3"]}, timeout=10)
        assert bad.status_code == 400 and "'/'" in bad.json()["error"]
        text = httpx.post(url, content=b"9*9*9", headers={"content-type": "text/plain"}, timeout=10)
        assert text.json() == {"outputs": predict(["9*9*9"])}
    finally:
        log.close()
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the launcher, its JVM and the Python workers
            proc.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
