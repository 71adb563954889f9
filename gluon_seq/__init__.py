"""gluon_seq: five classic LSTM tutorials as MXNet Gluon tasks, one fused/unfused LSTM."""
from .util.runtime import configure_threads as _configure_threads

# Before mxnet is imported anywhere: its OpenMP pool is sized at import time.
_configure_threads()

__version__ = "0.1.0"
