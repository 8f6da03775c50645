"""Developer tools, sorted by job; nothing here is deployed.

    build/         make the model bundles from their registry packages or training data
    convert/       turn a Keras gesture model into a bundle
    calibrate/     calibrate the face-verification threshold on labelled photos
    measure/       benchmark, load, gs:// cold start; harness.py serves a function for them and the tests
    serve/         serve both functions locally (`make serve`)
    publish/       validate a bundle and upload it to gs://
    requirements/  what the tools venvs install on top of requirements.txt
    testdata.py    real inputs shared by the tools and the tests

Every tool runs from the repo root as `python tools/<job>/<tool>.py` (or
`python -m tools.<job>.<tool>`) and answers `--help`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
