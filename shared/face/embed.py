"""Face embedding: an aligned face chip -> a fixed-length vector, and distances between them.

The embedder bundle's `preprocessing` says what chip it wants (`crop` recipe, `size`,
`padding`: align.chip_for); normalisation is baked into the model graph, so the chip goes in as
RGB 0..255. The dlib ResNet's vectors are not L2-normalised: dlib compares them with
euclidean distance (0.6), and cosine distance works on them too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from shared.face.align import chip_for, fill_for, is_tight
from shared.face.contract import EmbedderContract
from shared.face.detect import Face
from shared.runtime.bundle import Bundle, image_input


class FaceEmbedder:
    """Runs a "face-embedding" bundle. Attributes: contract (chip size and padding, dims,
    metric and calibrated threshold), size, padding, dims (shortcuts into it)."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.contract = EmbedderContract.read(bundle.manifest)
        self.size, self.padding, self.dims = self.contract.size, self.contract.padding, self.contract.dims
        image_input(bundle, "preprocessing.size", self.size)
        outputs = [list(t.shape) for t in bundle.model.outputs]
        if len(outputs) != 1 or math.prod(outputs[0]) != self.dims:
            raise bundle.manifest.fault("output.dims", self.dims, f"the size of the model's one output (its outputs: {outputs})")

    def chip(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The aligned chip this embedder wants for `face` in an (H, W, 3) uint8 RGB image
        (a tight face's chip continues the photo with a flat colour: align.fill_for)."""
        return chip_for(image, face, self.contract.crop, self.size, self.padding, fill_for(face, image.shape))

    def embed(self, chip: np.ndarray, mirrored: bool = False) -> np.ndarray:
        """One chip (size, size, 3) uint8 RGB, as `chip()` makes it -> (dims,) float32.
        `mirrored` (a tight face: align.is_tight): the mean direction of the chip's and its
        mirror image's vectors; one more inference, only for face-filling crops."""
        if chip.shape != (self.size, self.size, 3) or chip.dtype != np.uint8:
            raise ValueError(f"expected a ({self.size}, {self.size}, 3) uint8 RGB chip, got {chip.shape} {chip.dtype}")
        (out,) = self.bundle.model.run(chip[None].astype(np.float32))
        vector = out.reshape(self.dims).astype(np.float32, copy=False)
        if not mirrored:
            return vector
        (flipped,) = self.bundle.model.run(chip[None, :, ::-1].astype(np.float32))
        return _mean_direction(vector, flipped.reshape(self.dims).astype(np.float32, copy=False))

    def embed_face(self, image: np.ndarray, face: Face) -> np.ndarray:
        """`face`'s embedding in an (H, W, 3) uint8 RGB image: chip() then embed(), mirrored
        for a tight face."""
        return self.embed(self.chip(image, face), mirrored=is_tight(face, image.shape))


def _mean_direction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The mean of two vectors' directions, as long as they are on average (cosine ignores
    the length; euclidean embedders keep their scale)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return a
    both = a / na + b / nb
    return (both * ((na + nb) / 2 / (float(np.linalg.norm(both)) or 1.0))).astype(np.float32)


def distances_to(probe: np.ndarray, gallery: np.ndarray, metric: str) -> np.ndarray:
    """(N,) distances from one (D,) probe to each row of an (N, D) gallery, in float64, by
    one matrix-vector product. The one implementation of each metric; a pair is a gallery
    of one row (cosine_distance, euclidean_distance).

    "cosine": 1 - cos(a, b), in [0, 2]; 0 for the same direction, whatever the lengths; a
    zero vector is at 1 from anything (no similarity). "euclidean": the L2 distance
    ||a - b|| (dlib's metric: the same person below ~0.6 for its vectors).
    """
    p64, g64 = np.asarray(probe, np.float64).ravel(), np.asarray(gallery, np.float64)
    if metric == "euclidean":
        return np.linalg.norm(g64 - p64, axis=1)
    if metric != "cosine":
        raise ValueError(f"metric must be one of {', '.join(DISTANCES)}, got {metric!r}")
    norms = np.linalg.norm(g64, axis=1) * np.linalg.norm(p64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(norms > 0, (g64 @ p64) / norms, 0.0)
    # Clipped: rounding can put identical vectors a hair below 0.
    return np.clip(1.0 - cos, 0.0, 2.0)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine distance of one pair (distances_to)."""
    return float(distances_to(a, np.asarray(b).ravel()[None], "cosine")[0])


def euclidean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The euclidean distance of one pair (distances_to)."""
    return float(distances_to(a, np.asarray(b).ravel()[None], "euclidean")[0])


DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "cosine": cosine_distance,
    "euclidean": euclidean_distance,
}
