"""The MMS entry point under its first name; the handler lives in :mod:`gluon_seq.serving.mms`.

MAR manifests already written by users name ``gluon_seq.mms_handler:handle``,
and MMS imports that module by name when it loads the model, so this module
stays: it only re-exports the handler.  New manifests name
``gluon_seq.serving.mms:handle``.
"""
from .serving.mms import HANDLER, MANIFEST, GluonSeqService, handle, request_inputs, \
    write_mar_manifest

__all__ = ["HANDLER", "MANIFEST", "GluonSeqService", "handle", "request_inputs",
           "write_mar_manifest"]
