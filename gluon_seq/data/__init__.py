"""Where data comes from: ``files`` (locations, sha1 sums), the readers ``ptb``
(with BPTT batching), ``babi`` and ``imdb``, the generated ``web_traffic`` and
``generated`` sets, ``vocab`` (gluonnlp order) and ``batches`` (:class:`Batch`,
minibatching).  Nothing here downloads, and nothing here knows a model.
"""
from .batches import Batch, bucketed_minibatches, epoch_seed, held_out, iterate_minibatches
from .files import data_root, default_data_dir, locate

__all__ = ["Batch", "bucketed_minibatches", "epoch_seed", "held_out", "iterate_minibatches",
           "data_root", "default_data_dir", "locate"]
