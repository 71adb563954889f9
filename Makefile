# The first two targets are the README's first two commands.  Both create the
# local virtual environment on first use and reuse it afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
EXTRAS ?= cpu,test,serve,onnx,notebooks
STAMP  := $(VENV)/.installed-$(shell echo $(EXTRAS) | tr ',' '-')

.PHONY: run test venv bench bench-quick profile notebooks clean

run: $(STAMP)
	@# A finished or interrupted run is resumed with its saved settings, so a second
	@# `make run` only re-evaluates.  One OpenMP thread unless you set one: at this model's
	@# small shapes, per-op thread hand-offs cost more than they save (BENCHMARKS.md).
	@# The generalise preset (128 units, 30 epochs, a cosine-decayed rate) answers the held-out expressions too;
	@# auto-fast times both LSTM kernels on this model and trains with the faster one.
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m gluon_seq train arithmetic --out runs/arithmetic \
	    $$(test -f runs/arithmetic/progress.json && echo --resume || \
	       echo --preset generalise --rnn-backend auto-fast)
	$(PY) -m gluon_seq predict runs/arithmetic/export '7*3*2' '10+10+10' '3+4+5' '9*9*9'

test: $(STAMP)
	$(PY) -m pytest -q

venv: $(STAMP)

# Reinstall only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

# Executes the notebooks at their defaults into notebooks/executed/ (committed, outputs
# and plots kept, so a reader sees them without running anything); the sources stay
# output-free.  NOTEBOOKS picks some by name: make notebooks NOTEBOOKS="04 05 06".
# One OpenMP thread unless you set one, as for `make run`: the notebooks' models are small,
# and two threads per process oversubscribe a shared 2-core machine (count-ones' fast
# preset, measured by hand on 2026-12-06 at a load average of 3-5: a median 9.5 s per
# epoch with two threads, 1.2 s with one).
NOTEBOOKS ?=
notebooks: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) scripts/render_notebooks.py $(NOTEBOOKS)

# Every benchmark, each rewriting its own table in BENCHMARKS.md (hours here: the seed
# models' full profile takes about eight, bAbI trains MemN2N on all 20 tasks).  The bench
# extra adds PyTorch (the speed comparison), schemathesis (the serving fuzz run) and psutil
# (process-tree memory).  The two-thread speed section is the one run with 2 OpenMP threads;
# it times our fused kernel and PyTorch only: the equal-CPU check refuses the others, since
# with two threads MXNet's stock layers used 1.52 CPU-seconds per wall-second and our
# unfused kernel 1.61 (PTB training), against PyTorch's 1.78-1.80; and at the arithmetic
# shape PyTorch used 0.81 against our fused kernel's 1.01, so that shape is left out.
# The one-thread speed runs are pinned to one core: unpinned, MXNet's engine thread takes
# a second core (1.78 CPU-seconds per wall-second), and the equal-CPU check refuses the run.
PIN := taskset -c 0
BENCHES := arithmetic.py make_run.py model_steps.py optimizer_update.py \
           time_to_quality.py seed_models.py "serve.py --write" batch1.py cells.py babi_tasks.py
bench:
	$(MAKE) venv EXTRAS=$(EXTRAS),bench
	for b in $(BENCHES); do \
	    OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) benchmarks/$$b || exit 1; done
	$(PIN) env OMP_NUM_THREADS=1 $(PY) benchmarks/speed.py
	$(PIN) env OMP_NUM_THREADS=1 $(PY) benchmarks/speed.py --cell gru
	OMP_NUM_THREADS=2 $(PY) benchmarks/speed.py --shapes ptb count-ones imdb --reps 3 \
	    --only "ours fused" "PyTorch nn.LSTM" --section speed-2threads
	$(PY) benchmarks/glance.py

# The "At a glance" figures in at most half an hour: the arithmetic model per kernel, LSTM
# speed against PyTorch at the seed shapes (one thread), every export at batch 1 against
# onnxruntime, then the summary.  Quality beyond arithmetic comes from the tables of the
# full runs (make bench, babi_tasks.py), which take hours.
bench-quick:
	$(MAKE) venv EXTRAS=$(EXTRAS),bench
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) benchmarks/arithmetic.py
	@# speed.py refuses to write when a contender measures above the machine's limit or the
	@# contenders' CPU use differs; the summary then lists the speed tables as not measured
	@# on this machine, and is written either way.
	-$(PIN) env OMP_NUM_THREADS=1 $(PY) benchmarks/speed.py --reps 3
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) benchmarks/batch1.py --seconds 2
	$(PY) benchmarks/glance.py

# The research profiler (not a benchmark): where a step's time goes, into BENCHMARKS.md's
# "Where the time goes (profiles)".  It imports the benchmarks' modules, so it runs as one.
profile:
	$(MAKE) venv EXTRAS=$(EXTRAS),bench
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m benchmarks.profiling.step_profile

clean:
	rm -rf $(VENV) runs *.egg-info
