"""`reports/leaderboard.md` and `metrics/summary.json`: every candidate side by side with the
95% bootstrap intervals of its metrics and its test ECE before → after calibration, the
backbones' slices and invariances (flagged under
`register.min_class_recall` / `min_flip_agreement`), the one selected (by validation accuracy)
and where the registry's `champion` alias points, with the champion gate's numbers."""

from __future__ import annotations

from typing import Any

from ferflow.config import RegisterParams
from ferflow.release.selection import Candidate
from ferflow.tracking.model_registry import CHAMPION, Promotion

METRICS = ("val_accuracy", "val_macro_f1", "test_accuracy", "test_macro_f1")


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


def _scored(value: float, metrics: dict[str, float], name: str) -> str:
    """`0.7920 [0.7502, 0.8319]`: metric `name` with its interval from `metrics`, if any."""
    low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    if low is None or high is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _calibration(metrics: dict[str, float]) -> str:
    """`0.121 → 0.034`: the test ECE at T = 1 and at the fitted temperature ("-" for a
    candidate without them: an ensemble, an evaluation from before calibration)."""
    before, after = metrics.get("test_ece_uncalibrated"), metrics.get("test_ece")
    if before is None or after is None:
        return "-"
    return f"{before:.3f} → {after:.3f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def robustness_flags(candidate: Candidate, params: RegisterParams) -> list[str]:
    """Why a backbone deserves a second look: its worst class recall or its flip agreement on
    the test split under the register params' thresholds (reported, never used to choose)."""
    rob = candidate.robustness
    if rob is None:
        return []
    flags = []
    if rob.worst_class_recall < params.min_class_recall:
        flags.append(f"{rob.worst_class} recall {rob.worst_class_recall:.3f} < "
                     f"{params.min_class_recall:g}")
    if rob.flip_agreement < params.min_flip_agreement:
        flags.append(f"flip agreement {rob.flip_agreement:.3f} < {params.min_flip_agreement:g}")
    return flags


def _tta_modes(candidates: list[Candidate]) -> list[str]:
    """TTA modes besides the plain prediction that some candidate reports, in first-seen order."""
    modes: list[str] = []
    for c in candidates:
        for key in c.metrics:
            if key.startswith("val_accuracy_") and not key.endswith(("_ci_low", "_ci_high")):
                mode = key.removeprefix("val_accuracy_")
                if mode != "none" and mode not in modes:
                    modes.append(mode)
    return modes


def _external_sets(candidates: list[Candidate]) -> list[str]:
    """The evaluate.external data sets some candidate was scored on, in first-seen order."""
    names: list[str] = []
    for c in candidates:
        for key in c.metrics:
            if key.startswith("external_") and key.endswith("_accuracy"):
                name = key.removeprefix("external_").removesuffix("_accuracy")
                if name not in names:
                    names.append(name)
    return names


def _external_cell(c: Candidate, name: str) -> str:
    key = f"external_{name}_accuracy"
    return _scored(c.metrics[key], c.metrics, key) if key in c.metrics else "-"


def _tta_table(rows: list[Candidate]) -> list[str]:
    modes = _tta_modes(rows)
    if not modes:
        return []
    lines = ["", "## Test-time augmentation", "",
             "| candidate | TTA | val accuracy | val macro-F1 | test accuracy | test macro-F1 |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for c in rows:
        for mode in modes:
            if f"val_accuracy_{mode}" in c.metrics:
                cells = " | ".join(_scored(c.metrics[f"{m}_{mode}"], c.metrics, f"{m}_{mode}")
                                   for m in METRICS)
                lines.append(f"| {c.name} | {mode} | {cells} |")
    return lines


def _slices_table(rows: list[Candidate], params: RegisterParams) -> list[str]:
    measured = [c for c in rows if c.robustness is not None]
    if not measured:
        return []
    first = measured[0].robustness
    assert first is not None
    edges = {m: ", ".join(f"{e:.1f}" for e in first.slice_edges[m]) for m in first.slice_edges}
    lines = [
        "", "## Slices and invariances (test split)", "",
        f"Accuracy per tercile of the faces' mean pixel (dark / mid / bright, edges "
        f"{edges['brightness']}) and pixel std (low / mid / high contrast, edges "
        f"{edges['contrast']}); agreement = share of faces whose predicted class stays the same "
        f"when mirrored, or brightened by {first.brightness_shift:g} pixel levels. Flagged: "
        f"worst class recall under {params.min_class_recall:g} or flip agreement under "
        f"{params.min_flip_agreement:g} (reported, never used to choose).",
        "",
        "| backbone | worst class (recall) | flip agreement | brightness agreement "
        "| dark / mid / bright | low / mid / high contrast | flags |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    for c in measured:
        rob = c.robustness
        assert rob is not None
        acc = rob.slice_accuracy
        brightness = " / ".join(_share(acc[f"brightness_{b}"]) for b in ("dark", "mid", "bright"))
        contrast = " / ".join(_share(acc[f"contrast_{b}"]) for b in ("low", "mid", "high"))
        flags = "; ".join(f"**{f}**" for f in robustness_flags(c, params)) or "-"
        lines.append(f"| {c.name} | {rob.worst_class} ({rob.worst_class_recall:.3f}) "
                     f"| {rob.flip_agreement:.3f} | {rob.brightness_agreement:.3f} "
                     f"| {brightness} | {contrast} | {flags} |")
    return lines


def _gate_lines(promotion: Promotion) -> list[str]:
    gate = promotion.gate
    if not gate:
        return []
    return [
        "", "## Champion gate", "",
        f"Both models predicted the same {gate['val_images']:.0f} val images; "
        f"{gate['resamples']:.0f} bootstrap resamples of them (seed {gate['seed']:.0f}) give "
        f"the new version's accuracy gain over the champion a {gate['confidence']:.0%} interval. "
        "It takes the alias only when that interval lies above 0 (beyond the val split's "
        f"noise) and the gain is at least `register.min_improvement` "
        f"({gate['min_improvement']:g}).",
        "",
        "| new version val accuracy | champion val accuracy | gain | 95% interval | promoted |",
        "| ---: | ---: | ---: | --- | --- |",
        f"| {gate['challenger_val_accuracy']:.4f} | {gate['champion_val_accuracy']:.4f} "
        f"| {gate['gain']:+.4f} | [{gate['gain_ci_low']:+.4f}, {gate['gain_ci_high']:+.4f}] "
        f"| {'yes' if promotion.alias == CHAMPION else 'no'} |",
    ]


def render_leaderboard(
    candidates: list[Candidate],
    selected: Candidate,
    promotion: Promotion,
    params: RegisterParams,
    kept_champion: str = "",
) -> str:
    """Markdown tables, best validation accuracy first: the metrics with their 95% bootstrap
    intervals, each TTA mode's, the backbones' slices with their flags, and the champion gate.

    The selected row is marked champion when it took the alias; otherwise `kept_champion`
    names the version that kept it (e.g. its candidate name), which may be an older model.
    """
    rows = sorted(candidates, key=lambda c: (-c.val_accuracy, c.name))
    external = _external_sets(rows)
    lines = [
        "# Leaderboard",
        "",
        "Chosen by **validation** accuracy; test metrics are reported, never used to choose. "
        "In brackets: the 95% bootstrap interval over the split's images. Test ECE: the "
        "expected calibration error of the test probabilities before → after the temperature "
        "fitted on val (accuracies are the same at any temperature)."
        + (" `<name>` accuracy: on the evaluate.external image folder of that name, over the "
           "images a face was found in (reported, never used to choose)." if external else ""),
        "",
        "| candidate | val accuracy | val macro-F1 | test accuracy | test macro-F1 | test ECE "
        + "".join(f"| {name} accuracy " for name in external)
        + "| params | train time | flags | |",
        "| --- | ---: | ---: | ---: | ---: | ---: " + "| ---: " * len(external)
        + "| ---: | ---: | --- | --- |",
    ]
    for c in rows:
        marks = []
        if c.name == selected.name:
            marks.append(f"**selected** → v{promotion.version}, **{promotion.alias}**")
        cells = " | ".join(_scored(getattr(c, m), c.metrics, m) for m in METRICS)
        flags = "flagged" if robustness_flags(c, params) else ""
        ext = "".join(f"| {_external_cell(c, name)} " for name in external)
        lines.append(f"| {c.name} | {cells} | {_calibration(c.metrics)} {ext}| {_size(c.params)} "
                     f"| {_duration(c.train_time_s)} "
                     f"| {flags} | {', '.join(marks)} |")
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
    lines += _gate_lines(promotion) + _tta_table(rows) + _slices_table(rows, params)
    return "\n".join(lines) + "\n"


def summary(
    candidates: list[Candidate], selected: Candidate, promotion: Promotion,
    params: RegisterParams,
) -> dict[str, Any]:
    """The register stage's metrics file: the selected candidate's metrics with their
    intervals, the promotion with the champion gate's numbers, every candidate with its
    flags."""
    champion = promotion.version if promotion.alias == CHAMPION else promotion.previous_champion
    return {
        "selected": selected.name,
        "selected_by": "val_accuracy",
        "members": list(selected.members),
        "val_accuracy": selected.val_accuracy,
        "val_macro_f1": selected.val_macro_f1,
        "test_accuracy": selected.test_accuracy,
        "test_macro_f1": selected.test_macro_f1,
        **{f"{m}_{end}": selected.metrics[f"{m}_{end}"] for m in METRICS
           for end in ("ci_low", "ci_high") if f"{m}_{end}" in selected.metrics},
        "registered_model": promotion.name,
        "version": promotion.version,
        "alias": promotion.alias,
        "champion_version": champion,
        "promotion": promotion.as_dict(),
        "candidates": {c.name: {**{k: v for k, v in c.as_dict().items() if k != "name"},
                                "flags": robustness_flags(c, params)}
                       for c in candidates},
    }
