"""predict_gesture inputs and in-process timing.

Requests carry keypoint rows (tools/testdata.py: ../shared/data/gesture, else the shipped
examples; keypoint.csv: one frame of 42 hand keypoint features; point_history.csv: 16
frames x 2 fingertip features), matched to each bundle by its input contract
(frames x features_per_frame), as `features` JSON bodies.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tools import ROOT, testdata
from tools.measure.harness import Request, json_request

CSV_FILES = ("keypoint.csv", "point_history.csv")
GESTURE_BUNDLES = ("finger-gesture", "hand-sign")  # settings.DEFAULT_GESTURE_MODELS, in order
MODELTIME = Path(__file__).with_name("modeltime.py")


def _contract(bundle: Path) -> tuple[str, int, int, list[str]]:
    meta = json.loads((bundle / "bundle.json").read_text())
    pre = meta.get("preprocessing") or {}
    return meta["name"], int(pre["frames"]), int(pre["features_per_frame"]), list(meta.get("labels") or [])


def _check_label(labels: list[str]):
    def check(answer: dict) -> None:
        if answer.get("label") not in labels:
            raise RuntimeError(f"expected one of {labels}, got {str(answer)[:200]}")

    return check


def shipped_bundles() -> list[Path]:
    return [ROOT / "models" / f for f in GESTURE_BUNDLES if (ROOT / "models" / f / "bundle.json").exists()]


def served_env() -> dict[str, str]:
    """GESTURE_MODEL naming the bundles that exist (a build may have made only some)."""
    return {"GESTURE_MODEL": ",".join(str(b) for b in shipped_bundles())}


def gesture_requests(per_bundle: int = 50) -> dict[str, list[Request]]:
    """{bundle name: [Request]} for each shipped gesture bundle, from real keypoint rows."""
    rows = {name: testdata.gesture_rows(name, per_bundle) for name in CSV_FILES}
    out = {}
    for bundle in shipped_bundles():
        name, frames, per_frame, labels = _contract(bundle)
        source = next((r for r in rows.values() if r and len(r[0]) == frames * per_frame), None)
        if source is None:
            raise RuntimeError(f"{name}: no data file has rows of {frames} x {per_frame} features")
        out[name] = [
            json_request(
                name,
                {"model": name, "features": [row[i * per_frame : (i + 1) * per_frame] for i in range(frames)]},
                check=_check_label(labels),
            )
            for row in source
        ]
    if not out:
        raise RuntimeError(f"no gesture bundle under models/ ({', '.join(GESTURE_BUNDLES)})")
    return out


def model_times(pythons: dict[str, tuple[str, dict]]) -> tuple[dict[str, float], list[str]]:
    """In-process time per prediction, per runtime and bundle (modeltime.py in
    each Python). Returns ({bundle: median full-prediction ms on the first runtime}, table lines)."""
    lines = [
        "| runtime | bundle | model.run median ms | p95 ms | full predict (preprocess + model) median ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    first: dict[str, float] = {}
    for i, (runtime, (python, env)) in enumerate(pythons.items()):
        done = subprocess.run(
            [python, str(MODELTIME)], capture_output=True, text=True, timeout=600, env={**os.environ, **env, **served_env()}
        )
        if done.returncode != 0:
            lines.append(f"| {runtime} | failed: {done.stderr.strip()[-200:]} | | | | |")
            continue
        for name, t in json.loads(done.stdout.strip().splitlines()[-1]).items():
            lines.append(
                f"| {runtime} | {name} | {t['run_p50']:.3f} | {t['run_p95']:.3f} | {t['predict_p50']:.3f} | {t['predict_p95']:.3f} |"
            )
            if i == 0:
                first[name] = t["predict_p50"]
    return first, lines
