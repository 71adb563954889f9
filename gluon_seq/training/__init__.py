"""Training a run folder, and everything only training needs.

==============  ==============================================================
``workflow``    the entry points: train, reevaluate and export a run folder
``run_folder``  RunConfig, the run folder's files, resuming, reopening a run
``loop``        the one training loop (Fitter) and evaluation
``optim``       GroupedAdam: Adam's update in fewer operator calls
``launch``      ``gluon-seq launch``: a dist_sync job on one machine
==============  ==============================================================
"""
