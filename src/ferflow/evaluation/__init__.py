"""Evaluation (`evaluate@<backbone>`): metrics with their bootstrap intervals, test-time
augmentation, slices and invariances, confusion-matrix and mistakes plots. The intervals also
serve the release step's champion gate."""
