#!/usr/bin/env python3
"""Do the gallery benchmark's synthetic templates look like real ones? (issue 28)

tools/measure/gallery.py fills a gallery with the enrolled lfw-dev templates and synthetic
ones. This compares, at the same count (one template per lfw-dev identity, the first
photo), real SFace templates of distinct people with the benchmark's two kinds of
synthetic templates (`gallery.synthetic_draw`): "gaussian", unit vectors of a Gaussian
with the real templates' mean and covariance, and "isotropic", uniform on the sphere:
pairwise and nearest-neighbour cosine distances (what an HNSW walk meets), the intrinsic
dimension (TwoNN, Facco et al. 2017; MLE, Levina and Bickel 2005, k = 10) and the real
templates' PCA spectrum. With --mates-at N, the lfw probes among N gallery templates: how
often exact search's nearest is the probe's enrolled mate, and by what margin. With
--binary-at N, what a binary-quantised index (pgvector's `binary_quantize`: one sign bit per
number) can find at best among gallery.py's N rows: how often exact search's nearest is
among the C nearest codes by exact Hamming distance over every row (ties counted in its
favour), for lfw and synthetic probes; a graph walk over the codes finds no more.

    python tools/measure/gallery_data.py --mates-at 1000000   # needs gallery.py's cached embeddings
    python tools/measure/gallery_data.py --binary-at 100000,1000000 --probes 200
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.measure.gallery import LFW, OUT, embed_lfw, exact_top1, split, synthetic_draw, unit


def binary_ceiling(lfw: dict, n: int, seed: int, probes: int, candidates=(100, 400, 1000, 2000, 5000)) -> dict:
    """Share of probes whose exact nearest (cosine) is among the `candidates` nearest sign
    codes by Hamming distance: as pgvector's binary_quantize, and with the real templates'
    mean subtracted first ("centered")."""
    real = unit(lfw["vectors"])
    enrolled, held_out = split(lfw)
    rng = np.random.default_rng([seed, n])  # gallery.py's rows for this size, then its synthetic probes
    draw = synthetic_draw(real, "gaussian")
    table = np.concatenate([real[enrolled], draw(rng, n - len(enrolled))])
    out: dict = {"n": n}
    for kind, q in (("lfw", real[held_out[:probes]]), ("synthetic", draw(rng, probes))):
        truth = exact_top1(table, q)
        for name, centre in (("sign", 0.0), ("centered", real.mean(axis=0))):
            codes, qcodes = np.packbits(table - centre > 0, axis=1), np.packbits(q - centre > 0, axis=1)
            ranks = []
            for i in range(len(q)):
                h = np.unpackbits(codes ^ qcodes[i], axis=1).sum(1)
                ranks.append(int((h < h[truth[i]]).sum()))  # codes strictly nearer than the true nearest's
            out[f"{kind}, {name}"] = {c: round(float(np.mean(np.array(ranks) < c)), 3) for c in candidates}
    return out


def describe(x: np.ndarray) -> dict:
    """Distances within one set of unit vectors, and its intrinsic dimension."""
    d = 1.0 - x @ x.T
    pairwise = d[np.triu_indices(len(x), 1)]
    np.fill_diagonal(d, np.inf)
    near = np.sort(d, axis=1)[:, :10]
    r = np.sqrt(2 * np.maximum(near, 1e-12))  # euclidean distances of unit vectors
    twonn = len(r) / np.log(r[:, 1] / r[:, 0]).sum()
    mle = 9 / np.log(r[:, 9:10] / r[:, :9]).sum(axis=1)
    return {
        "pairwise p1/p50/p99": np.percentile(pairwise, [1, 50, 99]).round(3).tolist(),
        "nearest p5/p50/p95": np.percentile(near[:, 0], [5, 50, 95]).round(3).tolist(),
        "TwoNN dimension": round(float(twonn), 1),
        "MLE dimension (median)": round(float(np.median(mle)), 1),
    }


def mates(lfw: dict, n: int, seed: int, probes: int) -> dict:
    """The lfw probes against the benchmark's gallery of n (its rows, drawn as gallery.py does)."""
    real = unit(lfw["vectors"])
    enrolled, held_out = split(lfw)
    rng = np.random.default_rng([seed, n])
    synthetic = synthetic_draw(real, "gaussian")(rng, n - len(enrolled))
    take = held_out[:probes]
    p = real[take]
    people = lfw["people"]
    mate = np.array([np.flatnonzero(people[enrolled] == people[j])[0] for j in take])
    to_mate = 1.0 - np.einsum("ij,ij->i", p, real[enrolled][mate])
    to_enrolled = 1.0 - p @ real[enrolled].T
    to_enrolled[np.arange(len(p)), mate] = np.inf
    other = to_enrolled.min(axis=1)
    for start in range(0, len(synthetic), 100_000):
        other = np.minimum(other, (1.0 - p @ synthetic[start : start + 100_000].T).min(axis=1))
    return {
        "gallery": n,
        "probes": len(p),
        "mate distance p5/p50/p95": np.percentile(to_mate, [5, 50, 95]).round(3).tolist(),
        "nearest other p5/p50/p95": np.percentile(other, [5, 50, 95]).round(3).tolist(),
        "exact nearest is the mate": round(float(np.mean(to_mate < other)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=LFW)
    parser.add_argument("--seed", type=int, default=28, help="gallery.py's --seed")
    parser.add_argument("--mates-at", type=int, default=0, help="also the lfw probes among a gallery of this many")
    parser.add_argument("--binary-at", default="", help="sizes (comma-separated): binary quantisation's best recall")
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args(argv)
    lfw = embed_lfw(args.lfw, OUT / "lfw-embeddings.npz")
    if args.binary_at:
        for n in args.binary_at.split(","):
            print(binary_ceiling(lfw, int(n), args.seed, args.probes), flush=True)
        return 0
    real = unit(lfw["vectors"])
    people = lfw["people"]
    first = np.array([np.flatnonzero(people == p)[0] for p in sorted(set(people.tolist()))])
    rng = np.random.default_rng(args.seed)
    sets = {
        f"real, one photo of each of {len(first)} identities": real[first],
        "gaussian (the benchmark's)": synthetic_draw(real, "gaussian")(rng, len(first)),
        "isotropic": synthetic_draw(real, "isotropic")(rng, len(first)),
    }
    spectrum = np.linalg.eigvalsh(np.cov(real, rowvar=False))[::-1]
    share = np.cumsum(spectrum) / spectrum.sum()
    print(f"real templates: {len(real)} photos; PCA participation ratio {spectrum.sum() ** 2 / (spectrum**2).sum():.1f} of 128;")
    print(f"  components for 90% / 95% of the variance: {int(np.searchsorted(share, 0.9)) + 1} / {int(np.searchsorted(share, 0.95)) + 1}")
    for name, x in sets.items():
        print(f"{name}: {describe(x)}")
    if args.mates_at:
        print(mates(lfw, args.mates_at, args.seed, args.probes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
