"""Small pieces every layer of gluon_seq uses; none imports another part of gluon_seq.

=============  =============================================================
``errors``     UserError (one sentence for people) and the argument parser
``settings``   what each run setting and task option allows, and the check
``registry``   tables of classes by name (tasks, codecs, serving runtimes)
``runtime``    OpenMP threads, devices, the GPU guard, seeds
``ndarrays``   numpy arrays into MXNet
=============  =============================================================
"""
