"""A second name for :mod:`gluon_seq.serving.mms`'s handler, which manifests
written earlier name (``gluon_seq.mms_handler:handle``)."""
from .serving.mms import handle

__all__ = ["handle"]
