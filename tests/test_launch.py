"""dist_sync on loopback: the launcher, data sharding and identical workers."""
import io
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_seq.util.errors import UserError
from gluon_seq.training.launch import launch
from gluon_seq.data import iterate_minibatches

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_two_workers_train_to_identical_parameters(tmp_path):
    command = [sys.executable, "-m", "gluon_seq", "train", "arithmetic", "--kvstore", "dist_sync",
               "--epochs", "2", "--train-samples", "320", "--valid-samples", "32",
               "--test-samples", "32", "--out", str(tmp_path / "w{worker}")]
    log = io.StringIO()
    assert launch(command, workers=2, servers=1, timeout=240, sink=log) == 0, log.getvalue()
    text = log.getvalue()
    assert "[worker 0] epoch   2/2" in text and "[worker 1] epoch   2/2" in text
    first = mx.nd.load(str(tmp_path / "w0" / "last.params"))
    second = mx.nd.load(str(tmp_path / "w1" / "last.params"))
    assert sorted(first) == sorted(second) and first
    for name in first:
        np.testing.assert_array_equal(first[name].asnumpy(), second[name].asnumpy(), err_msg=name)
    # Each worker saw its own half of the data, so their training losses differ.
    losses = [(tmp_path / f"w{i}" / "log.csv").read_text().splitlines()[1].split(",")[1]
              for i in (0, 1)]
    assert losses[0] != losses[1]


@pytest.mark.slow
def test_a_dying_worker_stops_the_job_with_its_exit_code(tmp_path):
    # Worker 1 fails at once; worker 0, the scheduler and the server would wait forever.
    command = [sys.executable, "-c",
               "import sys, time; sys.exit(3) if '{worker}' == '1' else time.sleep(120)"]
    log = io.StringIO()
    code = launch(command, workers=2, servers=1, timeout=100, sink=log)
    assert code == 3  # a job that waited for worker 0 would end by the timeout, with 124
    assert "worker 1 exited with status 3" in log.getvalue()


def test_launch_needs_a_command_and_workers():
    with pytest.raises(UserError, match="no command"):
        launch([], workers=2)
    with pytest.raises(UserError, match="at least one worker"):
        launch(["true"], workers=0)


@pytest.mark.parametrize("count,workers", [(10, 2), (11, 2), (10, 3), (7, 4)])
def test_shards_are_disjoint_and_equal_in_steps(count, workers):
    label = np.arange(count)
    shards = [np.concatenate([b.label for b in iterate_minibatches((label,), label, 2, None, (r, workers))])
              for r in range(workers)]
    assert len({len(s) for s in shards}) == 1  # dist_sync needs the same number of steps
    merged = np.concatenate(shards)
    assert len(set(merged.tolist())) == len(merged)
    assert len(merged) == count - count % workers
