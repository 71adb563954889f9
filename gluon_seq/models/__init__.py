"""The models: HybridBlocks with ``begin_state(batch_size, ctx)`` and
``hybrid_forward(F, *data, *states)`` whose recurrent layers come from a
:class:`gluon_seq.rnn.LayerFactory` handed in.  ``seq2seq`` (arithmetic),
``classifier`` (alphabet, count-ones, sentiment), ``memnn``, ``memn2n`` and
``entnet`` (bAbI), ``word_lm`` (PTB).
"""
