"""Writing export folders: a trained model as graphs that serve with no model code.

``writer`` writes the folder; ``onnx`` adds ``model.onnx``.  The format is
:mod:`gluon_seq.serving.format`, beside the runtimes that read it.
"""
