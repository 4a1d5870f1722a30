"""`ferflow retrain`: what the retrain workflow runs, so the test suite can run exactly the same.

dvc pull (when a remote is configured) → dvc exp run with the requested overrides → dvc push
(when a remote is configured) → a Markdown summary: metrics and params diff against the base
ref, the leaderboard, the selected model's confusion matrix, and pictures a reviewer looks at
rather than reads (each trained backbone's learning curves, the confusion matrix) copied into
`reports/retrain/` for the workflow to commit to the pull request's branch, and linked from
the summary (`--image-base`: the URL those files will have there).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ferflow import EMOTIONS
from ferflow.atomic import write_text
from ferflow.errors import FerflowError
from ferflow.layout import Layout

LAYOUT = Layout()
SUMMARY = LAYOUT.reports_dir / "retrain-summary.md"
PICTURES = LAYOUT.reports_dir / "retrain"
"""The pictures the summary shows, committed with the retrain pull request."""


def _dvc(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run dvc with the current interpreter (the venv's), streaming its output unless captured."""
    command = [sys.executable, "-m", "dvc", *args]
    result = subprocess.run(command, text=True, capture_output=capture)
    if result.returncode != 0:
        detail = (result.stderr or "").strip()[-2000:] if capture else "see the output above"
        raise FerflowError(f"`dvc {' '.join(args)}` failed (exit {result.returncode}): {detail}")
    return result


def overrides_for(backbones: str | None, sets: Sequence[str]) -> list[str]:
    """`-S` arguments for dvc exp run from the workflow inputs; checks key=value form."""
    args: list[str] = []
    if backbones:
        names = [b.strip() for b in backbones.split(",") if b.strip()]
        args += ["-S", f"train.backbones=[{','.join(names)}]"]
    for item in sets:
        if "=" not in item or item.startswith("="):
            raise FerflowError(f"--set {item!r}: expected KEY=VALUE with a dotted params key, "
                               "e.g. --set train.epochs=30")
        args += ["-S", item]
    return args


def has_remote() -> bool:
    return bool(_dvc("remote", "list", capture=True).stdout.strip())


def _diff(kind: str, base: str, *targets: str) -> str:
    args = ["--targets", *targets] if targets else []
    try:
        text = _dvc(kind, "diff", base, "--md", *args, capture=True).stdout.strip()
    except FerflowError as exc:
        return f"_`dvc {kind} diff {base}` gave no comparison: {exc}_"
    has_rows = len(text.splitlines()) > 2  # a Markdown table's header and rule, then rows
    return text if has_rows else "_no changes_"


def _confusion_section() -> str:
    summary_path = LAYOUT.summary
    if not summary_path.exists():
        return f"_no {summary_path}: the register stage did not run_"
    summary = json.loads(summary_path.read_text())
    backbone = summary.get("selected", "")
    image = LAYOUT.eval_plots(str(backbone)) / "confusion_matrix.png"
    pairs = LAYOUT.confusion_csv(str(backbone))
    lines = [f"Selected by validation accuracy: **{backbone}**", ""]
    if image.exists():
        lines.append(f"Confusion matrix image: `{image}` (in the `reports` artifact of this run).")
    if pairs.exists():
        counts = {(t, p): 0 for t in EMOTIONS for p in EMOTIONS}
        with pairs.open(newline="") as f:
            for row in csv.DictReader(f):
                counts[row["actual"], row["predicted"]] += 1
        lines += ["", "| true \\ predicted | " + " | ".join(EMOTIONS) + " |",
                  "| --- " * (len(EMOTIONS) + 1) + "|"]
        lines += [f"| {t} | " + " | ".join(str(counts[t, p]) for p in EMOTIONS) + " |"
                  for t in EMOTIONS]
    return "\n".join(lines)


def publish_pictures() -> list[tuple[str, Path]]:
    """Copy the learning curves of every backbone in params.yaml's `train.backbones` (as the
    experiment ran it) and the selected model's confusion matrix into `PICTURES`, replacing
    what an earlier retrain left there; returns (caption, path) for each picture copied."""
    from ferflow.config import load_params

    if PICTURES.exists():
        shutil.rmtree(PICTURES)
    PICTURES.mkdir(parents=True)
    found: list[tuple[str, Path]] = []

    def copy(caption: str, source: Path, name: str) -> None:
        if source.exists():
            shutil.copyfile(source, PICTURES / name)
            found.append((caption, PICTURES / name))

    for backbone in load_params(Path("params.yaml")).train.backbones:
        copy(f"{backbone}: learning curves", LAYOUT.curves_png(backbone),
             f"curves-{backbone}.png")
    if LAYOUT.summary.exists():
        selected = str(json.loads(LAYOUT.summary.read_text()).get("selected", ""))
        copy(f"{selected}: confusion matrix (test split)",
             LAYOUT.eval_plots(selected) / "confusion_matrix.png", f"confusion-{selected}.png")
    return found


def pictures_section(pictures: list[tuple[str, Path]], image_base: str | None) -> str:
    """Markdown images for `pictures`: at `image_base`/<path> (where the pull request's branch
    serves them), else relative to the summary file."""
    if not pictures:
        return "_no pictures: the train and evaluate stages wrote none_"

    def link(path: Path) -> str:
        if image_base:
            return f"{image_base.rstrip('/')}/{path.as_posix()}"
        return path.relative_to(SUMMARY.parent).as_posix()

    return "\n\n".join(f"**{caption}**\n\n![{caption}]({link(path)})"
                        for caption, path in pictures)


def _gate_verdict() -> str:
    report = LAYOUT.validation_report
    if not report.exists():
        return f"_no {report}_"
    passed = json.loads(report.read_text()).get("success")
    return "passed" if passed else f"**failed** (see {report})"


def build_summary(base: str, overrides: list[str],
                  pictures: list[tuple[str, Path]] | None = None,
                  image_base: str | None = None) -> str:
    leaderboard = LAYOUT.leaderboard
    source = LAYOUT.source_json
    data = json.loads(source.read_text()) if source.exists() else {}
    shown = " ".join(overrides[1::2]) or "none"
    return "\n\n".join([
        "# ferflow retrain",
        f"Data: `{data.get('source', '?')}` ({data.get('rows', '?')} rows, sha256 "
        f"`{str(data.get('sha256', '?'))[:12]}`). Overrides: `{shown}`.",
        f"## Metrics vs `{base}`\n\n"
        + _diff("metrics", base, str(LAYOUT.summary), str(LAYOUT.train_metrics_dir)),
        f"Data gate: {_gate_verdict()}",
        f"## Params vs `{base}`\n\n{_diff('params', base)}",
        "## Leaderboard\n\n" + (leaderboard.read_text().strip() if leaderboard.exists()
                                else f"_no {leaderboard}_"),
        "## Confusion matrix (test split)\n\n" + _confusion_section(),
        "## Pictures\n\n" + pictures_section(pictures or [], image_base),
    ]) + "\n"


def retrain(backbones: str | None, sets: Sequence[str], base: str,
            summary_out: Path | None, image_base: str | None = None) -> str:
    """Run the whole retraining; return the Markdown summary (also in reports/), with the
    pictures in `PICTURES` linked at `image_base` (see `pictures_section`)."""
    overrides = overrides_for(backbones, sets)
    remote = has_remote()
    if remote:
        _dvc("pull", "--allow-missing")
    _dvc("exp", "run", *overrides)
    if remote:
        _dvc("push")
    text = build_summary(base, overrides, publish_pictures(), image_base)
    write_text(SUMMARY, text)
    if summary_out is not None:
        with open(summary_out, "a", encoding="utf-8") as out:  # GitHub's step summary appends
            out.write(text)
    return text
