"""A second name for the MMS handler of :mod:`gluon_seq.serving.mms`.

MMS imports the module a model's ``MAR-INF/MANIFEST.json`` names, and users'
manifests name either ``gluon_seq.serving.mms:handle`` or this module's
``handle``; both must import.
"""
from .serving.mms import handle

__all__ = ["handle"]
