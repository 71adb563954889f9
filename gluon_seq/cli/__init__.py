"""``gluon-seq``, the command line: ``main`` dispatches to the commands (:mod:`.commands`);
``ask`` is the bAbI tutorial's interactive question answering (:mod:`.ask`)."""
from .commands import main

__all__ = ["main"]
