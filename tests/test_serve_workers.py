"""serve --workers N: N processes on one port, metrics summed over them, and a killed
process replaced while the others answer (and /ready says so meanwhile)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from gluon_seq.serving.process import ServeProcess  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, export_untrained):
    from gluon_seq.tasks import get

    return export_untrained(get("arithmetic")(),
                            tmp_path_factory.mktemp("workers") / "arith" / "export")[1]


def _children(pid: int) -> list:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _requests_total(url: str) -> float:
    lines = httpx.get(url + "/metrics").text.splitlines()
    return sum(float(line.split()[-1]) for line in lines
               if line.startswith('gluon_seq_requests_total{model="arith",status="200"}'))


def test_two_processes_answer_add_up_and_replace_a_killed_one(folder):
    with ServeProcess([folder], "--workers", "2", "--max-wait-ms", "0", "--backend", "mxnet",
                      "--no-access-log") as server:
        first = _children(server.pid)
        assert len(first) == 2
        for _ in range(20):
            assert httpx.post(server.url + "/predict/arith", json={"inputs": ["7*3*2"]}).is_success
        assert _requests_total(server.url) == 20  # whichever process answers /metrics
        os.kill(first[0], signal.SIGKILL)
        answered, not_ready = 0, False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = httpx.post(server.url + "/predict/arith", json={"inputs": ["1+1"]})
            assert response.status_code == 200  # the survivor answers throughout
            answered += 1
            ready = httpx.get(server.url + "/ready")
            not_ready |= ready.status_code == 503
            now = _children(server.pid)
            if ready.status_code == 200 and len(now) == 2 and first[0] not in now:
                break
        else:
            pytest.fail("the killed process was not replaced within 60 s: " + server.log_tail())
        assert not_ready  # /ready said so while the replacement loaded
        assert first[1] in now
        assert _requests_total(server.url) == 20 + answered  # the dead one's counts stay
        assert "exited with status -9; starting another" in server.log_tail()
        assert server.stop() == 0


def test_a_missing_folder_is_one_sentence_not_n(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gluon_seq", "serve", str(tmp_path / "nope"),
                             "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "nope" in result.stderr
