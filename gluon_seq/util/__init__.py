"""Small pieces every layer of gluon_seq uses; none imports another part of gluon_seq:
``errors``, ``settings`` (what each setting allows), ``registry``, ``runtime``
(threads, devices, seeds), ``cpu``, ``files`` (atomic writes), ``ndarrays``."""
