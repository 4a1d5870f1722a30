"""The release step: pick the best candidate by validation accuracy, register it, write the
leaderboard."""
