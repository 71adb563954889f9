"""Batches of rows of about one length (``bucketed_minibatches``, EntNet's ``--bucket``)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_seq.data import bucketed_minibatches

lengths_strategy = st.lists(st.integers(1, 40), min_size=1, max_size=120)


def _batches(lengths, width, size, seed, shard=(0, 1)):
    lengths = np.array(lengths)
    rows = np.arange(len(lengths))
    return [b.label for b in bucketed_minibatches((rows,), rows, lengths, width, size, seed,
                                                  shard)]


@settings(max_examples=60, deadline=None)
@given(lengths_strategy, st.integers(1, 9), st.integers(1, 12), st.integers(0, 10 ** 6))
def test_every_row_once_and_each_batch_in_one_bucket(lengths, width, size, seed):
    batches = _batches(lengths, width, size, seed)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    assert max(len(b) for b in batches) <= size
    buckets = [{(lengths[r] - 1) // width for r in b} for b in batches]
    assert all(len(b) == 1 for b in buckets)
    # Only a bucket's last batch may be short: no more batches than the buckets need.
    counts = np.bincount([(n - 1) // width for n in lengths])
    assert len(batches) == sum(-(-c // size) for c in counts if c)


@settings(max_examples=30, deadline=None)
@given(lengths_strategy, st.integers(1, 6), st.integers(2, 3), st.integers(0, 10 ** 6))
def test_workers_take_the_same_steps_and_disjoint_rows(lengths, size, workers, seed):
    shards = [_batches(lengths, 4, size, seed, (rank, workers)) for rank in range(workers)]
    assert len({len(s) for s in shards}) == 1  # dist_sync needs the same number of steps
    rows = np.concatenate([np.concatenate(s) for s in shards if s] or [np.array([])])
    assert len(set(rows.tolist())) == len(rows)


def test_the_seed_alone_decides_the_order():
    lengths = np.random.RandomState(1).randint(1, 30, size=300)
    same = [np.concatenate(_batches(lengths, 8, 32, 5)) for _ in range(2)]
    other = np.concatenate(_batches(lengths, 8, 32, 6))
    np.testing.assert_array_equal(*same)
    assert (same[0] != other).any()
    # The random order of batches mixes the buckets: not sorted by length.
    first_rows = [b[0] for b in _batches(lengths, 8, 32, 5)]
    assert sorted(first_rows, key=lambda r: lengths[r]) != first_rows
