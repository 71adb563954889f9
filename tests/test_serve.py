"""The HTTP server: answers equal the export's, batching changes nothing,
bad requests get their own 4xx, and SIGTERM lets in-flight requests finish."""
import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from gluon_seq.cli import commands as cli  # noqa: E402
from gluon_seq.codecs import register_codec  # noqa: E402
from gluon_seq.codecs.chars import CharCodec  # noqa: E402
from gluon_seq.util.errors import UserError  # noqa: E402
from gluon_seq.serving.format import META_FILE  # noqa: E402
from gluon_seq.serving import load_predictor  # noqa: E402
from gluon_seq.serving.batching import load_workers  # noqa: E402
from gluon_seq.serving.http import create_app  # noqa: E402
from gluon_seq.serving.requests import model_name  # noqa: E402
from gluon_seq.serving.process import ServeProcess  # noqa: E402
from gluon_seq.serving.server import DrainingServer  # noqa: E402
from gluon_seq.util.runtime import free_port  # noqa: E402

# starlette's TestClient warns that it will move to httpx2; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with")

EXPRESSIONS = ["7*3*2", "10+10+10", "1+2+3", "9*9*9", "4*5+6", "2", "8+8*8", "3*3*3", "1+1",
               "6*7", "10*10*10", "5+4+3"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, export_untrained):
    from gluon_seq.tasks import get

    return export_untrained(get("arithmetic")(), tmp_path_factory.mktemp("serve") / "arith" / "export")[1]


@pytest.fixture(scope="module")
def expected(folder):
    model = load_predictor(folder)
    return {text: model.predict([text])[0] for text in EXPRESSIONS}


def _poll(condition, seconds: float, every: float = 0.02) -> None:
    """Wait until ``condition()`` is true; fail after ``seconds``."""
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(every)


class _Server:
    """uvicorn, as ``gluon-seq serve`` runs it, in a background thread on a free loopback port."""

    def __init__(self, app, drain_seconds=0.0):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False)
        self.server = DrainingServer(config, app, drain_seconds)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        _poll(lambda: self.server.started, 20)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(folder):
    # A long wait, so concurrent requests surely share batches.
    with _Server(create_app([folder], max_batch=64, max_wait_ms=50, max_body_bytes=4096)) as srv:
        yield srv


def _post_all(url: str, bodies):
    """POST every body to url at once; (status, json) per body, in order."""
    async def go():
        async with httpx.AsyncClient(timeout=30) as client:
            responses = await asyncio.gather(*[client.post(url, content=json.dumps(b)
                                                           if not isinstance(b, bytes) else b)
                                               for b in bodies])
        return [(r.status_code, r.json()) for r in responses]
    return asyncio.run(go())


def test_health_and_models(server, folder):
    assert httpx.get(server.url + "/health").json() == {"status": "ok", "models": ["arith"]}
    [info] = httpx.get(server.url + "/models").json()["models"]
    meta = json.loads((folder / META_FILE).read_text())
    assert info["name"] == "arith" and info["task"] == "arithmetic" and info["backend"] == "mxnet"
    assert info["input_description"] == meta["input_description"] and info["batched"] is True


def test_single_request_matches_the_export(server, expected):
    response = httpx.post(server.url + "/predict/arith", json={"inputs": EXPRESSIONS})
    assert response.status_code == 200
    assert response.json() == {"outputs": [expected[t] for t in EXPRESSIONS]}


def test_concurrent_requests_are_batched_without_changing_answers(server, expected):
    worker = server.app.state.workers["arith"]
    before = worker.batches
    bodies = [{"inputs": EXPRESSIONS[i % 12:i % 12 + 1 + i % 3]} for i in range(30)]
    results = _post_all(server.url + "/predict/arith", bodies)
    for body, (status, answer) in zip(bodies, results):
        assert status == 200
        assert answer["outputs"] == [expected[t] for t in body["inputs"]]
    assert worker.batches - before < len(bodies)  # some requests shared a model run


def test_a_bad_request_does_not_poison_its_batch(server, expected):
    bodies = [{"inputs": ["7*3*2"]}, {"inputs": ["7/3"]}, {"inputs": ["1+2+3", "6*7"]}]
    results = _post_all(server.url + "/predict/arith", bodies)
    assert results[0] == (200, {"outputs": [expected["7*3*2"]]})
    assert results[1][0] == 400 and "'/'" in results[1][1]["error"]
    assert results[2] == (200, {"outputs": [expected["1+2+3"], expected["6*7"]]})


@pytest.mark.parametrize("body,status,phrase", [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b'["7*3*2"]', 400, "JSON object"),
    (b'{"input": ["7*3*2"]}', 400, '"inputs" field'),
    (b'{"inputs": "7*3*2"}', 400, "must be a list"),
    (b'{"inputs": []}', 400, "empty"),
    (b'{"inputs": [7]}', 400, "not a string"),
    (b'{"inputs": ["7&3"]}', 400, "outside the set"),
    (b'{"inputs": ["1+2+3+4+5"]}', 400, "the most this model takes is 8"),
    (b'{"inputs": [""]}', 400, "empty"),
    (b'{"inputs": ["' + b"1" * 5000 + b'"]}', 413, "larger than 4096 bytes"),
])
def test_bad_requests_get_a_4xx_naming_the_problem(server, body, status, phrase):
    response = httpx.post(server.url + "/predict/arith", content=body)
    assert response.status_code == status
    assert phrase in response.json()["error"]


def test_an_unknown_model_is_a_404(server):
    response = httpx.post(server.url + "/predict/nope", json={"inputs": ["1"]})
    assert response.status_code == 404 and "arith" in response.json()["error"]
    assert httpx.get(server.url + "/nowhere").json() == {"error": "Not Found"}


def test_wrong_method_is_405_with_allow_and_openapi_lists_the_models(server):
    response = httpx.get(server.url + "/predict/arith")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert "error" in response.json()
    schema = httpx.get(server.url + "/openapi.json").json()
    operation = schema["paths"]["/predict/{model}"]["post"]
    assert operation["parameters"][0]["schema"]["enum"] == ["arith"]
    assert "422" not in operation["responses"] and "400" in operation["responses"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["required"] == ["inputs"]


def test_the_actual_size_counts_when_no_length_is_declared(server):
    def chunks():  # chunked transfer: no Content-Length header
        yield b'{"inputs": ["'
        for _ in range(10):
            yield b"1" * 1000
        yield b'"]}'
    response = httpx.post(server.url + "/predict/arith", content=chunks())
    assert response.status_code == 413
    assert httpx.get(server.url + "/health").status_code == 200


def test_validation_errors_are_400_with_an_error_field(folder):
    from fastapi.testclient import TestClient

    app = create_app([folder])

    @app.get("/probe")
    async def probe(count: int):
        return {"count": count}

    with TestClient(app) as client:
        response = client.get("/probe", params={"count": "many"})
    assert response.status_code == 400 and "count" in response.json()["error"]


@register_codec("test_iterative")
class _IterativeCodec(CharCodec):
    """Runs the model once per input, like a generating codec does."""

    def predict(self, run, inputs):
        return [self.decode(run(self.encode([text])))[0] for text in inputs]


def test_codecs_that_override_predict_are_called_whole(folder, tmp_path, expected):
    from fastapi.testclient import TestClient

    other = tmp_path / "iterative"
    shutil.copytree(folder, other)
    meta = json.loads((other / META_FILE).read_text())
    meta["codec"]["type"] = "test_iterative"
    (other / META_FILE).write_text(json.dumps(meta))
    with TestClient(create_app([other])) as client:
        [info] = client.get("/models").json()["models"]
        response = client.post("/predict/iterative", json={"inputs": ["7*3*2", "6*7"]})
        bad = client.post("/predict/iterative", json={"inputs": ["7/3"]})
    assert info["batched"] is False
    assert response.json() == {"outputs": [expected["7*3*2"], expected["6*7"]]}
    assert bad.status_code == 400


def test_onnxruntime_backend_gives_the_same_answers(folder, tmp_path, expected):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from fastapi.testclient import TestClient
    from gluon_seq.exporting.onnx import export_onnx

    copy = tmp_path / "arith_onnx"
    shutil.copytree(folder, copy)
    export_onnx(copy)
    with TestClient(create_app([copy], runtime="onnxruntime")) as client:
        response = client.post("/predict/arith_onnx", json={"inputs": EXPRESSIONS})
        assert client.get("/models").json()["models"][0]["backend"] == "onnxruntime"
    assert response.json() == {"outputs": [expected[t] for t in EXPRESSIONS]}


def test_model_names_and_duplicates(folder, tmp_path):
    assert model_name(folder) == "arith"
    assert model_name(tmp_path / "my_model") == "my_model"
    twin = tmp_path / "arith" / "export"
    shutil.copytree(folder, twin)
    with pytest.raises(UserError, match="both be served as 'arith'"):
        load_workers([folder, twin])
    assert cli.main(["serve", str(folder), str(twin)]) == cli.EXIT_USER_ERROR


def test_the_server_never_imports_task_or_training_code(folder):
    # Every serving module, the MMS entry and both runtimes loaded; none of these may follow.
    forbidden = ("gluon_seq.cli.commands", "gluon_seq.tasks", "gluon_seq.training.loop", "gluon_seq.training.workflow",
                 "gluon_seq.training.run_folder", "gluon_seq.exporting.onnx", "gluon_seq.exporting.writer")
    code = ("import sys; from gluon_seq.serving.http import create_app; "
            "import gluon_seq.serving.command, gluon_seq.serving.mms, gluon_seq.mms_handler; "
            f"app = create_app([{str(folder)!r}]); "
            f"bad = [m for m in sys.modules if m in {forbidden!r} "
            f"or m.startswith(tuple(f + '.' for f in {forbidden!r}))]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_sigterm_drains_and_lets_the_in_flight_request_finish(folder, expected):
    # A 3 s batching wait keeps the request queued while SIGTERM arrives; for the first
    # 2 s after it, /ready answers 503 while the port stays open.
    with ServeProcess([folder], "--max-wait-ms", "3000", "--drain-seconds", "2",
                      env={"OMP_NUM_THREADS": "1"}, timeout=60) as server:
        url, result = server.url, {}
        sender = threading.Thread(target=lambda: result.update(
            response=httpx.post(url + "/predict/arith", json={"inputs": ["7*3*2"]}, timeout=30)))
        sender.start()
        while httpx.get(url + "/models", timeout=5).json()["models"][0]["queued"] == 0:
            assert sender.is_alive(), "the request finished before SIGTERM could be sent"
            time.sleep(0.05)
        assert httpx.get(url + "/ready", timeout=5).json() == {"ready": True, "models": ["arith"]}
        server.terminate()
        _poll(lambda: httpx.get(url + "/ready", timeout=5).status_code == 503, 10)
        assert httpx.get(url + "/ready", timeout=5).json() == {"ready": False, "reason": "draining"}
        sender.join(30)
        assert result["response"].status_code == 200
        assert result["response"].json() == {"outputs": [expected["7*3*2"]]}
        assert server.stop(timeout=30) == 0, server.log_tail()


@pytest.mark.parametrize("module", ["fastapi", "uvicorn", "prometheus_client"])
def test_a_missing_serve_extra_is_one_sentence_naming_it(folder, monkeypatch, capsys, module):
    monkeypatch.setitem(sys.modules, module, None)  # import MODULE now raises ImportError
    assert cli.main(["serve", str(folder)]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert f"{module} is not installed; install the serve extra" in err and "\n" not in err
    assert "pip install 'gluon_seq[serve]'" in err
