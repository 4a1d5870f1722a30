"""`reports/leaderboard.md` and `metrics/summary.json`: every candidate side by side, the one
selected (by validation accuracy) and where the registry's `champion` alias points."""

from __future__ import annotations

from typing import Any

from ferflow.release.selection import Candidate
from ferflow.tracking.model_registry import CHAMPION, Promotion


def _size(params: int | None) -> str:
    if params is None:
        return "-"
    if params >= 1_000_000:
        return f"{params / 1e6:.1f}M"
    return f"{params / 1e3:.0f}k" if params >= 1_000 else str(params)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def render_leaderboard(
    candidates: list[Candidate],
    selected: Candidate,
    promotion: Promotion,
    kept_champion: str = "",
) -> str:
    """Markdown table, best validation accuracy first.

    The selected row is marked champion when it took the alias; otherwise `kept_champion`
    names the version that kept it (e.g. its candidate name), which may be an older model.
    """
    rows = sorted(candidates, key=lambda c: (-c.val_accuracy, c.name))
    lines = [
        "# Leaderboard",
        "",
        "Chosen by **validation** accuracy; test metrics are reported, never used to choose.",
        "",
        "| candidate | val accuracy | val macro-F1 | test accuracy | test macro-F1 | params "
        "| train time | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in rows:
        marks = []
        if c.name == selected.name:
            marks.append(f"**selected** → v{promotion.version}, **{promotion.alias}**")
        lines.append(
            f"| {c.name} | {c.val_accuracy:.4f} | {c.val_macro_f1:.4f} | {c.test_accuracy:.4f} "
            f"| {c.test_macro_f1:.4f} | {_size(c.params)} | {_duration(c.train_time_s)} "
            f"| {', '.join(marks)} |"
        )
    champion = promotion.version if promotion.alias == CHAMPION else promotion.previous_champion
    lines += [
        "",
        f"Registered `{promotion.name}` version {promotion.version} as `{promotion.alias}`: "
        f"{promotion.reason}.",
    ]
    if promotion.previous_champion_val_accuracy is not None and promotion.alias != CHAMPION:
        label = f" ({kept_champion})" if kept_champion else ""
        lines.append(f"The champion stays version {champion}{label}: validation accuracy "
                     f"{promotion.previous_champion_val_accuracy:.4f} on today's split.")
    return "\n".join(lines) + "\n"


def summary(
    candidates: list[Candidate], selected: Candidate, promotion: Promotion
) -> dict[str, Any]:
    """The register stage's metrics file."""
    champion = promotion.version if promotion.alias == CHAMPION else promotion.previous_champion
    return {
        "selected": selected.name,
        "selected_by": "val_accuracy",
        "members": list(selected.members),
        "val_accuracy": selected.val_accuracy,
        "val_macro_f1": selected.val_macro_f1,
        "test_accuracy": selected.test_accuracy,
        "test_macro_f1": selected.test_macro_f1,
        "registered_model": promotion.name,
        "version": promotion.version,
        "alias": promotion.alias,
        "champion_version": champion,
        "promotion": promotion.as_dict(),
        "candidates": {c.name: {k: v for k, v in c.as_dict().items() if k != "name"}
                       for c in candidates},
    }
