#!/usr/bin/env python3
"""The accuracy table of docs/accuracy.md, from what calibration recorded: an embedder bundle folder
(its bundle.json `metrics.calibration`, written by calibrate_face_threshold.py --write) or a
`--json` report (calibrate_face_threshold.py, face_recognition_peer.py).

    python tools/calibrate/accuracy_table.py SFace=models/face-embedder-sface dlib=models/face-embedder-dlib \\
        face_recognition=build/cal/face_recognition.json

A bundle's figures are at its shipped threshold (`threshold.value`); a report's at its
"shipped" point (the peer: its own 0.6 tolerance). FRR at FAR 0.1% is 1 - TAR at FAR 0.1%.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SETS = ("lfw-dev", "lfw-dev pre-cropped", "deepface", "deepface pre-cropped")


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def rows(label: str, report: dict) -> list[str]:
    out = []
    for name in SETS:
        r = report["sets"].get(name)
        if r is None:
            continue
        at = r.get("at_default") or r["at"].get("shipped") or r["at"].get("tolerance 0.6")
        cells = [
            label,
            name,
            f"{r['roc_auc']:.5f}",
            f"{at['threshold']}",
            pct(at["accuracy"]),
            f"{pct(at['far'])} / {pct(at['frr'])}",
            pct(r["cv_accuracy"]),
            pct(1 - r["tar_at_far_0.1pct"]),
            str(len(r["no_face"])),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    print("| configuration | set | ROC AUC | threshold | accuracy | FAR / FRR | CV accuracy | FRR at FAR 0.1% | no face |")
    print("|---|---|---|---|---|---|---|---|---|")
    for item in argv:
        label, _, path = item.partition("=")
        source = Path(path)
        if source.is_dir():
            report = json.loads((source / "bundle.json").read_text())["metrics"]["calibration"]
        else:
            report = json.loads(source.read_text())
        for line in rows(label, report):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
