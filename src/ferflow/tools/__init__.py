"""Tools around the pipeline (not stages): benchmarks, params overrides, CI retraining."""
