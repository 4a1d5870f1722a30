"""Evaluation: metrics, test-time augmentation, confusion-matrix and mistakes plots
(`evaluate@<backbone>`), and model selection, leaderboard and registration (`register`)."""
