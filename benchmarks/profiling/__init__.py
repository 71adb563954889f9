"""Research profilers, apart from the benchmarks: where a step's time goes.  They import
the benchmarks' harness and contenders, so they run as modules from the repository root:
``python -m benchmarks.profiling.step_profile``."""
