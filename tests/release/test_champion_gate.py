"""The champion gate: a challenger must beat the champion on the same val images by more than
the split's noise (a paired bootstrap), and by at least register.min_improvement."""

from __future__ import annotations

import numpy as np
import pytest

from ferflow.config import BootstrapParams
from ferflow.release.selection import champion_gate

BOOTSTRAP = BootstrapParams(resamples=1000, seed=0)


def two_models(n: int, wins: int, losses: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two prediction sets: the champion right on 70% of n images; the challenger
    the same except right on `wins` of the champion's mistakes and wrong on `losses` of its
    hits."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 7, n)
    champion = np.where(rng.random(n) < 0.7, y, (y + 1) % 7)
    challenger = champion.copy()
    misses, hits = np.flatnonzero(champion != y), np.flatnonzero(champion == y)
    challenger[misses[:wins]] = y[misses[:wins]]
    challenger[hits[:losses]] = (y[hits[:losses]] + 2) % 7
    return y, challenger, champion


def test_a_gain_inside_the_noise_is_refused() -> None:
    # +1% on 500 images, but from 45 wins against 40 losses: the models mostly disagree.
    y, challenger, champion = two_models(500, wins=45, losses=40)
    verdict = champion_gate(y, challenger, champion, min_improvement=0.0, bootstrap=BOOTSTRAP)
    gate = verdict.evidence
    assert gate["gain"] == pytest.approx(5 / 500)
    assert gate["gain_ci_low"] < 0 < gate["gain"] < gate["gain_ci_high"]
    assert not verdict.better
    assert "no gain beyond the val split's noise" in verdict.reason


def test_a_clearly_better_challenger_is_accepted() -> None:
    y, challenger, champion = two_models(500, wins=60, losses=10)
    verdict = champion_gate(y, challenger, champion, min_improvement=0.005, bootstrap=BOOTSTRAP)
    gate = verdict.evidence
    assert verdict.better
    assert gate["gain"] == pytest.approx(50 / 500)
    assert 0 < gate["gain_ci_low"] < gate["gain"] < gate["gain_ci_high"]
    assert gate["challenger_val_accuracy"] - gate["champion_val_accuracy"] == pytest.approx(0.1)
    assert verdict.champion_val_accuracy == gate["champion_val_accuracy"]
    assert (gate["resamples"], gate["seed"], gate["val_images"]) == (1000, 0, 500)
    # Same predictions, same seed: the same numbers.
    again = champion_gate(y, challenger, champion, min_improvement=0.005, bootstrap=BOOTSTRAP)
    assert again == verdict


def test_min_improvement_stays_a_floor_beyond_the_noise() -> None:
    # Beyond the noise on 5,000 images (+0.6%, never worse), yet less than the required 1%.
    y, challenger, champion = two_models(5000, wins=30, losses=0)
    verdict = champion_gate(y, challenger, champion, min_improvement=0.01, bootstrap=BOOTSTRAP)
    assert verdict.evidence["gain_ci_low"] > 0
    assert not verdict.better
    assert "less than min_improvement +0.0100" in verdict.reason
    assert champion_gate(y, challenger, champion, min_improvement=0.006,
                         bootstrap=BOOTSTRAP).better


def test_a_tie_never_wins() -> None:
    y, challenger, champion = two_models(300, wins=0, losses=0)
    verdict = champion_gate(y, challenger, champion, min_improvement=0.0, bootstrap=BOOTSTRAP)
    assert not verdict.better
    assert verdict.evidence["gain"] == 0.0
