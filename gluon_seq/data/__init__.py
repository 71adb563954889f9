"""Where data comes from.

============  =====================================================
``files``     where datasets live, and their known sha1 sums
``ptb``       the Penn Treebank reader and its BPTT batching
``babi``      the bAbI v1.2 reader
``imdb``      the IMDB reviews reader
``web_traffic``  generated HTTP request lines
``generated`` arithmetic expressions, count-ones bits, stand-in corpora
``vocab``     vocabularies, built with ``gluonnlp.Vocab``
``batches``   the :class:`Batch` the loop takes, and minibatching
============  =====================================================

Nothing here downloads, and nothing here knows a model.
"""
from .batches import Batch, epoch_seed, held_out, iterate_minibatches
from .files import data_root, default_data_dir, locate

__all__ = ["Batch", "epoch_seed", "held_out", "iterate_minibatches", "data_root", "default_data_dir",
           "locate"]
