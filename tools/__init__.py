"""Developer tools, sorted by job; nothing here is deployed.

    build/         make the model bundles from their registry packages or training data
    convert/       turn a Keras gesture model into a bundle
    calibrate/     calibrate the face-verification threshold on labelled photos
    measure/       benchmark, load, gs:// cold start, cold-start and memory profiles, bit-identity checks;
                   harness.py serves a function for them and the tests
    serve/         serve both functions locally (`make serve`)
    publish/       validate a bundle and upload it to gs://
    requirements/  what the tools venvs and the reference venvs (`make venvs`, .venvs/) install
    testdata.py    real inputs shared by the tools and the tests
    gallery_reindex.py  rebuild a large gallery's HNSW index beside the old one (operators; docs/scaling.md)

Every tool runs from the repo root as `python tools/<job>/<tool>.py` (or
`python -m tools.<job>.<tool>`) and answers `--help`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venvs"  # the reference venvs, made by `make venvs` (git-ignored)
LOGS = ROOT / "build"  # where tools write logs and reports nobody commits (git-ignored)


def reference_python(name: str) -> str | None:
    """The Python of the reference venv `.venvs/<name>` (`make venv-<name>`: face-recognition,
    mediapipe, tensorflow, tflite214), or None when it has not been made."""
    python = VENVS / name / "bin" / "python"
    return str(python) if python.exists() else None


def python_option(given: str | None, name: str) -> str | None:
    """A tool's `--python-X` value: the given Python, else the reference venv `name` when
    present; an empty string (`--python-X ''`) means none."""
    if given is None:
        return reference_python(name)
    return given or None


def print_report(report: dict, out: Path | None) -> None:
    """Print a tool's JSON report and, when `out` is given, write it there too."""
    import json

    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
