"""Benchmark: the face detectors side by side on the same real faces.

The images are tests/serving/face_scenes.py's: the two portraits as shipped (Grace Hopper from
matplotlib, the astronaut from scikit-image), 40 scenes with one of their faces tilted by
-30..30°, 56 or 110 px wide, evenly or side lit, and 10 images with no face. A box counts as a
face found at IoU ≥ 0.3 with the true box; any other box is a false positive. Time is the
median wall time of one `detect_faces` call per image, after one warm-up pass, over `--repeat`
passes; the ratio is against the Haar cascade.

    .venv/bin/python benchmarks/face_detectors.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))

from face_scenes import Scene, composed_scenes, face_free_scenes, match, portraits  # noqa: E402

from ferflow.serving.faces import DETECTORS, detect_faces  # noqa: E402


def score(detector: str, scenes: Sequence[Scene]) -> tuple[int, int]:
    """(faces found, false positives) over `scenes`."""
    found = false = 0
    for scene in scenes:
        hits, wrong = match([tuple(b.as_list()) for b in detect_faces(scene.grey, detector)],
                            scene.faces)
        found, false = found + hits, false + wrong
    return found, false


def ms_per_image(detector: str, scenes: Sequence[Scene], repeat: int) -> float:
    times = []
    for scene in scenes:
        detect_faces(scene.grey, detector)  # warm-up: model loading, graph tracing
    for _ in range(repeat):
        for scene in scenes:
            start = time.perf_counter()
            detect_faces(scene.grey, detector)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (default: 3)")
    args = parser.parse_args()
    photos = [Scene(name, grey, (box,)) for name, (grey, box) in portraits().items()]
    composed = list(composed_scenes())
    upright = [s for s in composed if "+0°" in s.name]
    tilted = [s for s in composed if "15°" in s.name]
    steep = [s for s in composed if "30°" in s.name]
    side_lit = [s for s in composed if s.name.endswith("side")]
    small = [s for s in composed if " 56px" in s.name]
    empty = list(face_free_scenes())
    everything = photos + composed + empty
    columns = [("portraits", photos), ("composed", composed), ("0°", upright),
               ("±15°", tilted), ("±30°", steep), ("side lit", side_lit), ("56 px", small)]
    header = ["detector", *(f"{name} ({len(s)})" for name, s in columns),
              f"false positives ({len(everything)} images)", "ms / image", "× haar"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    timings = {d: ms_per_image(d, composed + empty, args.repeat) for d in DETECTORS}
    for detector in DETECTORS:
        cells = [detector]
        for _, scenes in columns:
            found, _ = score(detector, scenes)
            cells.append(f"{found} ({100 * found / len(scenes):.0f} %)")
        cells.append(str(score(detector, everything)[1]))
        cells.append(f"{timings[detector]:.0f}")
        cells.append(f"{timings[detector] / timings['haar']:.1f}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
