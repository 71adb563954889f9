"""The models.  Each is a HybridBlock with ``begin_state(batch_size, ctx)`` and a
``hybrid_forward(F, *data, *states)``; each takes its recurrent layers from a
:class:`gluon_seq.rnn.LayerFactory` handed in from outside.

==============  ===========================================================
``seq2seq``     the arithmetic encoder-decoder
``classifier``  one sequence classifier: alphabet, count-ones, sentiment
``memnn``       the bAbI memory network
``word_lm``     the PTB word language model
==============  ===========================================================
"""
