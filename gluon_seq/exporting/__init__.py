"""Writing export folders: a trained model as graphs that serve with no model code.

==========  ================================================================
``writer``  writes the folder from a task and a trained model
``onnx``    adds ``model.onnx`` for the onnxruntime serving runtime
==========  ================================================================

The folder's format is :mod:`gluon_seq.serving.format`: it is defined beside
the runtimes that read it, and the writers here import it.
"""
