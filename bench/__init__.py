"""Compiler benchmarks, kept out of pytest: ``python -m bench.compile_scaling``."""
