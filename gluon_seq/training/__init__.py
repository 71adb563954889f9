"""Training a run folder, and everything only training needs.

``workflow``: train, reevaluate and export a run folder; ``config``: RunConfig;
``run_folder``: its files; ``upgrade``: older run folders; ``loop``: the training
loop and evaluation; ``optim``: GroupedAdam and GroupedSGD; ``launch``: ``gluon-seq launch``.
"""
