"""The server under real traffic: an oversized body gets a readable 413 (never a reset),
a full queue a 503 with Retry-After, too many inputs a 400; /ready, /metrics, bearer
tokens, exports another account can read, and missing extras named in one sentence."""
import json
import math
import os
import signal
import socket
import stat
import sys
import threading
import warnings

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

with warnings.catch_warnings():  # starlette's TestClient warns that httpx will move to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from test_serve import _poll, _Server  # noqa: E402

from gluon_seq.cli import commands as cli  # noqa: E402
from gluon_seq.codecs.words import MAX_REQUEST_WORDS, WordCodec  # noqa: E402
from gluon_seq.util.errors import UserError  # noqa: E402
from gluon_seq.serving import load_predictor  # noqa: E402
from gluon_seq.serving.batching import QueueFull  # noqa: E402
from gluon_seq.serving.command import is_loopback  # noqa: E402
from gluon_seq.serving.http import create_app  # noqa: E402
from gluon_seq.serving.limits import bearer_ok  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with")
GOOD = json.dumps({"inputs": ["7*3*2"]}).encode()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, export_untrained):
    from gluon_seq.tasks import get

    return export_untrained(get("arithmetic")(), tmp_path_factory.mktemp("limits") / "arith" / "export")[1]


@pytest.fixture(scope="module")
def answer(folder):
    return load_predictor(folder).predict(["7*3*2"])[0]


# -- raw HTTP/1.1, so the test sees exactly what a client on the socket sees ---------------
def _head(framing: str, extra: str = "") -> bytes:
    return (f"POST /predict/arith HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\n{framing}\r\n{extra}\r\n").encode()


def _read_response(sock):
    """(status, headers, body) of one response; fails if the connection ends first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer ({data!r})"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _send_body(sock, total: int, chunked: bool) -> None:
    piece = b"1" * 65536
    for start in range(0, total, len(piece)):
        data = piece[:min(len(piece), total - start)]
        sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    if chunked:
        sock.sendall(b"0\r\n\r\n")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_14_mb_body_gets_a_413_the_client_reads_and_the_connection_lives_on(folder, answer,
                                                                              chunked):
    total = 14_000_000
    with _Server(create_app([folder])) as srv, \
            socket.create_connection(("127.0.0.1", srv.port), timeout=60) as sock:
        sock.sendall(_head("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"))
        _send_body(sock, total, chunked)  # a reset would raise here (EPIPE / ECONNRESET)
        status, headers, body = _read_response(sock)
        assert status == 413 and headers.get("connection") != "close"
        assert "larger than 1048576 bytes" in json.loads(body)["error"]
        sock.sendall(_head(f"Content-Length: {len(GOOD)}") + GOOD)  # same connection
        status, _, body = _read_response(sock)
        assert status == 200 and json.loads(body) == {"outputs": [answer]}


def test_a_client_waiting_for_100_continue_gets_the_413_at_once_and_a_clean_close(folder):
    with _Server(create_app([folder])) as srv, \
            socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(_head("Content-Length: 14000000", "Expect: 100-continue\r\n"))
        status, headers, body = _read_response(sock)
        assert status == 413 and headers["connection"] == "close" and b"larger than" in body
        assert sock.recv(1) == b""  # an orderly close (FIN); a reset raises ConnectionResetError


def test_a_body_past_the_drain_bound_is_answered_at_once_with_connection_close(folder):
    with _Server(create_app([folder], drain_bytes=1 << 20)) as srv, \
            socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(_head("Content-Length: 14000000"))  # and no body: nothing left unread
        status, headers, _ = _read_response(sock)
        assert status == 413 and headers["connection"] == "close"
        assert sock.recv(1) == b""


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_full_queue_is_a_503_with_retry_after_until_a_place_frees(folder, answer):
    app = create_app([folder], max_queue=2, max_wait_ms=0, api_key="k")
    worker, release = app.state.workers["arith"], threading.Event()
    real_run, key = worker.model.run, {"Authorization": "Bearer k"}

    def held_run(arrays, states=None):  # the model's thread waits here until released
        assert release.wait(30)
        return real_run(arrays, states)

    worker.model.run = held_run
    with _Server(app) as srv:
        url, results = srv.url + "/predict/arith", []
        post = lambda headers=key: httpx.post(url, content=GOOD, headers=headers, timeout=60)
        senders = [threading.Thread(target=lambda: results.append(post())) for _ in range(2)]
        for sender in senders:
            sender.start()
        _poll(lambda: worker.in_flight == 2, 20)  # one held in the model, one queued
        full, anonymous = post(), post({})
        metrics = _samples(httpx.get(srv.url + "/metrics").text)
        release.set()
        for sender in senders:
            sender.join(30)
        after = post()
    assert full.status_code == 503 and full.headers["retry-after"] == "1"
    assert "busy" in full.json()["error"] and anonymous.status_code == 401  # the key comes first
    assert metrics[("gluon_seq_queue_depth", (("model", "arith"),))] == 2
    assert metrics[("gluon_seq_requests_total", (("model", "arith"), ("status", "503")))] == 1
    assert [r.json() for r in results] == [{"outputs": [answer]}] * 2
    assert after.status_code == 200 and worker.in_flight == 0
    with worker.admitted(), worker.admitted():  # the check the handler makes itself
        with pytest.raises(QueueFull, match="busy"), worker.admitted():
            pass


def test_more_inputs_than_max_inputs_is_a_400_naming_the_cap(folder, answer):
    with TestClient(create_app([folder], max_inputs=3)) as client:
        over = client.post("/predict/arith", json={"inputs": ["7*3*2"] * 4})
        at = client.post("/predict/arith", json={"inputs": ["7*3*2"] * 3})
    assert over.status_code == 400 and "at most 3 per request" in over.json()["error"]
    assert at.json() == {"outputs": [answer] * 3}


def test_metrics_count_answers_batches_and_runs_in_a_registry_per_app(folder):
    app, other = create_app([folder]), create_app([folder])  # both register the same names
    with TestClient(app) as client, TestClient(other) as other_client:
        client.post("/predict/arith", json={"inputs": ["7*3*2", "6*7"]})
        client.post("/predict/arith", json={"inputs": ["7/3"]})
        client.post("/predict/whoever", json={"inputs": ["1"]})
        response = client.get("/metrics")
        quiet = _samples(other_client.get("/metrics").text)
    got, arith = _samples(response.text), (("model", "arith"),)
    assert response.headers["content-type"].startswith("text/plain")
    assert got[("gluon_seq_requests_total", (("model", "arith"), ("status", "200")))] == 1
    assert got[("gluon_seq_requests_total", (("model", "arith"), ("status", "400")))] == 1
    assert got[("gluon_seq_requests_total", (("model", "(unknown)"), ("status", "404")))] == 1
    assert got[("gluon_seq_request_duration_seconds_count", arith)] == 2
    assert got[("gluon_seq_model_runs_total", arith)] == 1 == app.state.workers["arith"].batches
    assert got[("gluon_seq_batch_rows_sum", arith)] == 2 and got[("gluon_seq_queue_depth", arith)] == 0
    assert ("gluon_seq_requests_total", (("model", "arith"), ("status", "200"))) not in quiet


def test_ready_is_503_until_the_workers_run_and_while_draining(folder):
    app = create_app([folder])
    starting = TestClient(app).get("/ready")  # no `with`: the app's startup has not run
    with TestClient(app) as client:
        ready = client.get("/ready")
        app.state.draining = True
        draining = client.get("/ready")
        health = client.get("/health")
    assert starting.status_code == 503 and starting.json()["reason"] == "starting"
    assert ready.json() == {"ready": True, "models": ["arith"]}
    assert draining.status_code == 503 and draining.json()["reason"] == "draining"
    assert health.status_code == 200


def test_sigterm_keeps_serving_for_the_drain_time_with_ready_503_then_stops(folder, answer):
    srv = _Server(create_app([folder]), drain_seconds=2.0)
    with srv:
        assert httpx.get(srv.url + "/ready").status_code == 200
        srv.server.handle_exit(signal.SIGTERM, None)  # what the signal handler calls
        draining = httpx.get(srv.url + "/ready")
        served = httpx.post(srv.url + "/predict/arith", content=GOOD, timeout=30)
        srv.thread.join(20)  # it stops by itself once the drain time is over
        assert not srv.thread.is_alive()
    assert draining.status_code == 503 and served.json() == {"outputs": [answer]}


def test_an_api_key_guards_predict_only_and_is_compared_in_constant_time(folder, answer,
                                                                          monkeypatch):
    compared = []
    import gluon_seq.serving.limits as limits

    monkeypatch.setattr(limits.hmac, "compare_digest",
                        lambda a, b: compared.append(len(a)) or a == b)
    with TestClient(create_app([folder], api_key="s3cret")) as client:
        post = lambda **headers: client.post("/predict/arith", content=GOOD, headers=headers)
        missing, wrong, basic = post(), post(Authorization="Bearer nope"), \
            post(Authorization="Basic s3cret")
        right = post(Authorization="Bearer s3cret")
        open_paths = [client.get(p).status_code for p in ("/health", "/ready", "/models", "/metrics")]
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["error"]
    assert wrong.status_code == basic.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer error=")
    assert right.json() == {"outputs": [answer]} and open_paths == [200] * 4
    assert compared and set(compared) == {32}  # digests, so not even the length shows
    assert bearer_ok("bearer s3cret", "s3cret") and not bearer_ok(None, "s3cret")
    assert not bearer_ok("Bearer s3cret2", "s3cret") and not bearer_ok("Bearer", "s3cret")


def test_serve_warns_off_loopback_without_a_key_and_reads_the_key_from_the_environment(
        folder, answer, monkeypatch, capsys):
    started = []
    monkeypatch.setattr("gluon_seq.serving.server.serve",
                        lambda app, host, port, **_: started.append(app) or True)
    monkeypatch.setattr("gluon_seq.serving.command.signal.signal", lambda *_: None)
    monkeypatch.delenv("GLUON_SEQ_API_KEY", raising=False)
    assert cli.main(["serve", str(folder), "--host", "0.0.0.0"]) == 0
    assert "0.0.0.0 without an API key" in capsys.readouterr().err
    monkeypatch.setenv("GLUON_SEQ_API_KEY", "from-env")
    assert cli.main(["serve", str(folder), "--host", "0.0.0.0"]) == 0
    assert "API key" not in capsys.readouterr().err
    with TestClient(started[-1]) as client:
        assert client.post("/predict/arith", content=GOOD).status_code == 401
        assert client.post("/predict/arith", content=GOOD,
                           headers={"Authorization": "Bearer from-env"}).status_code == 200
    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.1.2.3", "example.org"]))


# -- generation requests (the words codec) ------------------------------------------------
@pytest.fixture(scope="module")
def ptb_folder(tmp_path_factory, export_untrained):
    from gluon_seq.tasks import get

    home = tmp_path_factory.mktemp("ptb")
    task = get("ptb").tiny(home)
    task.prepare()
    return export_untrained(task, home / "ptb" / "export")[1]


def test_generation_caps_words_per_request_and_checks_temperature(ptb_folder):
    half = {"prompt": "the", "words": MAX_REQUEST_WORDS // 2}  # 1 + 1000 words
    with TestClient(create_app([ptb_folder])) as client:
        post = lambda body: client.post("/predict/ptb", content=body)
        over = post(json.dumps({"inputs": [half, half]}))
        nan = post(b'{"inputs": [{"prompt": "the", "temperature": NaN}]}')  # Python's json reads it
        tiny = post(json.dumps({"inputs": [{"prompt": "the", "temperature": 1e-300}]}))
        good = post(json.dumps({"inputs": [{"prompt": "the", "words": 2, "temperature": 1.0}]}))
    assert over.status_code == 400 and f"the most is {MAX_REQUEST_WORDS}" in over.json()["error"]
    for response in (nan, tiny):
        assert response.status_code == 400 and "temperature must be 0" in response.json()["error"]
    assert good.status_code == 200 and len(good.json()["outputs"][0]["text"].split()) == 2


def test_the_words_codec_refuses_what_would_break_generation():
    codec = WordCodec(["<eos>", "<unk>", "the"])
    for temperature in (math.nan, math.inf, -math.inf, 1e-300, -1, 101, "1", True):
        with pytest.raises(UserError, match="temperature must be 0"):
            codec.request({"prompt": "the", "temperature": temperature})
    for seed in (2 ** 32, -1):
        with pytest.raises(UserError, match="seed must be"):
            codec.request({"prompt": "the", "seed": seed})
    fits = [{"prompt": "the the", "words": 998}, {"prompt": "the", "words": 999}]  # 2000 words
    assert [r["words"] for r in codec.requests(fits)] == [998, 999]
    with pytest.raises(UserError, match="2001 words"):
        codec.requests([fits[0], {"prompt": "the the", "words": 999}])
    assert codec.request({"prompt": "the", "temperature": 0.001, "seed": 2 ** 32 - 1}) == \
        {"tokens": ["the"], "words": 10, "temperature": 0.001, "seed": 2 ** 32 - 1}


# -- files another account can serve, and missing extras ----------------------------------
@pytest.mark.parametrize("umask,folders,files", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_exports_follow_the_umask_and_stay_atomic(tmp_path, export_untrained, umask, folders,
                                                   files):
    from gluon_seq.tasks import get

    target, old = tmp_path / "run" / "export", os.umask(umask)
    try:
        export_untrained(get("arithmetic")(), target)
        _, folder = export_untrained(get("arithmetic")(), target)  # replaces the first one
        if umask == 0o022:
            pytest.importorskip("onnx")
            from gluon_seq.exporting.onnx import export_onnx

            export_onnx(folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == folders
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert set(modes.values()) == {files} and ("model.onnx" in modes) == (umask == 0o022)
    assert [p.name for p in folder.parent.iterdir()] == ["export"]  # no staging or .old left


def test_the_notebook_tools_without_their_extra_name_the_install(load_script, monkeypatch,
                                                                capsys):
    script = load_script("scripts/render_notebooks.py")
    monkeypatch.setitem(sys.modules, "papermill", None)
    assert script.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("papermill is not installed") and "\n" not in err
    assert "pip install 'gluon_seq[notebooks]'" in err


def test_a_codec_bug_is_a_500_with_its_traceback_logged_and_bad_input_a_400(folder, caplog):
    """A UserError from the codec is the input's fault; anything else is a bug in the
    server, answered 500 and logged whole, never passed off as the client's mistake."""
    app = create_app([folder])
    with TestClient(app) as client:
        codec = app.state.workers["arith"].codec
        assert client.post("/predict/arith", json={"inputs": ["7a"]}).status_code == 400
        codec.encode = lambda inputs: {}["a codec bug"]
        with caplog.at_level("ERROR", logger="gluon_seq.serve"):
            response = client.post("/predict/arith", json={"inputs": ["7*3"]})
    assert response.status_code == 500 and "server log" in response.json()["error"]
    assert "KeyError" in caplog.text and "Traceback" in caplog.text
