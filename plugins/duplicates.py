"""``duplicates``: exact and near-duplicate images, and copies across train/val/test (leakage).

Check ``duplicates`` (dataset-wide):

- exact duplicates: the same file bytes (sha256);
- near-duplicates: the same picture flipped, rotated by 90/180/270 degrees, rescaled,
  recompressed or slightly cropped. Each image gets a 255-bit perceptual hash (DCT of a 64x64
  grey thumbnail, its low 16x16 frequencies against their median) for each of its 8 flips and
  rotations; two images match when the hash of one is within ``max_distance`` bits of one of the
  other's 24 (8 transforms of the whole image and of two centre crops). Large sets first
  shortlist neighbours on a flip- and rotation-invariant vector (the standardised magnitudes of
  those DCT coefficients, for each crop), blockwise, so memory stays bounded;
- groups: matches are joined into groups with one representative, which is kept: the member a
  person labeled or reviewed, then any labeled one, then the one in ``train``, then the upright
  one (in the orientation most members share; on a tie, the one whose hash is closest to its
  class's), then the most pixels, then the least compressed (JPEG quality estimate, bytes per
  pixel), and only then the first by path;
- leakage: a group spanning splits (a folder named train/val/test anywhere in the path) is a
  ``leakage`` issue on the copies outside the representative's split.

Every other member of a group gets one issue (``duplicate``, ``near_duplicate`` or ``leakage``)
suggesting ``exclude``. Fixer ``duplicates`` applies it: the image is marked excluded from
export in its label file, reversibly (``labeler fix --undo``); no file is ever deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labeler import hookimpl
from labeler.dataset import Dataset, Item
from labeler.errors import ImageFileError
from labeler.io.images import open_image
from labeler.model import Annotation, Issue
from labeler.plugin_api import Check, Finding, Progress, SuggestedFixer

__version__ = "0.1.0"

#: The 8 flips and rotations, in the order of :func:`dihedral_hashes`' columns. The name says
#: how the *other* image was made from this one.
TRANSFORMS = (
    "identical",
    "rotated 90",
    "rotated 180",
    "rotated 270",
    "flipped horizontally",
    "flipped vertically",
    "transposed",
    "anti-transposed",
)

#: Folder names that mark a split (case-insensitive), and the split they mean.
SPLIT_FOLDERS = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}
_SPLIT_RANK = {"train": 0, "": 1, "val": 2, "test": 3}


class DuplicatesOptions(BaseModel):
    """Options of ``duplicates`` (``-o NAME VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    near: bool = Field(True, description="Also find near-duplicates (not only identical files).")
    max_distance: int = Field(
        36, ge=0, le=128, description="Most differing hash bits (of 255) for a near-duplicate."
    )
    brute_force_below: int = Field(
        5000, ge=0, description="Compare all pairs below this many images; above, shortlist neighbours first."
    )
    candidates: int = Field(16, ge=1, description="Shortlisted neighbours per image on large sets.")


# -- hashing --------------------------------------------------------------------------------
#: Thumbnail side and the side of the low-frequency DCT block the hash keeps (255 bits: a
#: 63-bit pHash cannot tell apart simple drawings, which come out 2-6 bits apart).
THUMB = 64
BLOCK = 16
HASH_BITS = BLOCK * BLOCK - 1
WORDS = (HASH_BITS + 1) // 64


def _dct_lowfreq(grey: np.ndarray) -> np.ndarray:
    from scipy.fft import dctn

    return dctn(grey, type=2, norm="ortho")[:BLOCK, :BLOCK]


def _bits(block: np.ndarray) -> np.ndarray:
    flat = block.ravel()[1:]  # without the DC term: brightness must not matter
    bits = np.concatenate([[False], flat > np.median(flat)])  # 256 bits, the first always 0
    return np.packbits(bits).view(">u8").astype(np.uint64)


def thumbnail(path: Any) -> np.ndarray:
    """``THUMB x THUMB`` float grey thumbnail of an image file (EXIF-corrected)."""
    from PIL import Image

    img = open_image(path, draft_size=(2 * THUMB, 2 * THUMB)).convert("L")
    return np.asarray(img.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32)


def _dihedral(a: np.ndarray) -> list[np.ndarray]:
    t = a.T
    return [a, np.rot90(a, 1), np.rot90(a, 2), np.rot90(a, 3), a[:, ::-1], a[::-1, :], t, np.rot90(a, 2).T]


#: Centre crops (fraction of each side kept) hashed besides the whole image, so that a slightly
#: cropped copy matches its original.
CROPS = (1.0, 0.94, 0.88)


def dihedral_hashes(grey: np.ndarray) -> np.ndarray:
    """The perceptual hash of the image under each of :data:`TRANSFORMS`: ``(8, WORDS)`` uint64."""
    return np.stack([_bits(_dct_lowfreq(np.ascontiguousarray(v))) for v in _dihedral(grey)])


def image_hashes(path: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(len(CROPS) * 8, WORDS)`` hashes (each centre crop under each transform; row 0 is the
    image as it is) and the invariant vectors of the same crops: ``(len(CROPS), D)``."""
    from PIL import Image

    img = open_image(path, draft_size=(2 * THUMB, 2 * THUMB)).convert("L")
    rows, invs = [], []
    for keep in CROPS:
        w, h = img.size
        dx, dy = w * (1 - keep) / 2, h * (1 - keep) / 2
        part = img if keep == 1.0 else img.crop((round(dx), round(dy), round(w - dx), round(h - dy)))
        grey = np.asarray(part.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32)
        rows.append(dihedral_hashes(grey))
        invs.append(invariant_vector(grey))
    return np.concatenate(rows), np.stack(invs)


def invariant_vector(grey: np.ndarray) -> np.ndarray:
    """A vector that flips and 90-degree rotations leave unchanged (DCT magnitudes, symmetrised)."""
    m = np.abs(_dct_lowfreq(grey))
    sym = m + m.T
    return sym[np.triu_indices(BLOCK)][1:].astype(np.float32)  # DC left out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences of hashes (last axis: the uint64 words), broadcasting the others."""
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int16)


def best_match(h_a: np.ndarray, h_b: np.ndarray) -> tuple[int, int]:
    """(distance, transform index): how ``b`` is best explained as a transform of ``a``.

    ``h_a`` are ``a``'s hashes (:func:`image_hashes`), ``h_b`` ``b``'s; compares ``a`` under each
    transform and crop with ``b`` as it is.
    """
    d = hamming(h_a, h_b[0][None, :])
    t = int(np.argmin(d))
    return int(d[t]), t % len(TRANSFORMS)


# -- grouping -------------------------------------------------------------------------------
class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def split_of(rel: str) -> str:
    """``train``, ``val``, ``test`` from a folder name in the path, else ``""``."""
    for part in PurePosixPath(rel).parts[:-1]:
        name = SPLIT_FOLDERS.get(part.lower())
        if name:
            return name
    return ""


def near_pairs(hashes: np.ndarray, max_distance: int, inv: np.ndarray | None = None,
               candidates: int = 16, block: int = 64) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, whose hashes match under some transform.

    Without ``inv``: every pair, blockwise (``n x 24n`` bit counts). With ``inv`` (invariant
    vectors, ``(n, len(CROPS), D)``): only each image's ``candidates`` nearest, blockwise too.
    """
    n = len(hashes)
    pairs: set[tuple[int, int]] = set()
    ident = hashes[:, 0]  # (n, WORDS)
    if inv is None:
        for s in range(0, n, block):
            e = min(n, s + block)
            d = hamming(hashes[s:e, :, None, :], ident[None, None, :, :]).min(axis=1)  # (b, n)
            for a, b in zip(*np.nonzero(d <= max_distance), strict=True):
                i, j = s + int(a), int(b)
                if i != j:  # not symmetric: i's crops may match j, not j's crops i
                    pairs.add((min(i, j), max(i, j)))
        return sorted(pairs)
    # Shortlist: each image's whole-image vector against every image's crop vectors (a crop
    # of A looks like A's own centre crop), then the bit-level check on the shortlist only.
    n_crops = inv.shape[1]
    mean = inv[:, 0].mean(axis=0)
    scale = np.maximum(inv[:, 0].std(axis=0), 1e-6)
    targets = ((inv - mean) / scale).reshape(n * n_crops, -1).astype(np.float32)
    targets /= np.maximum(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12)
    queries = targets.reshape(n, n_crops, -1)[:, 0]
    owner = np.repeat(np.arange(n), n_crops)
    k = min(candidates * n_crops, len(targets) - n_crops)
    rows = max(16, (1 << 24) // len(targets))  # about 2**24 similarities per block
    for s in range(0, n, rows):
        e = min(n, s + rows)
        sims = queries[s:e] @ targets.T
        sims[owner[None, :] == np.arange(s, e)[:, None]] = -np.inf  # not itself
        np.negative(sims, out=sims)
        near = np.argpartition(sims, k - 1, axis=1)[:, :k]
        for a in range(e - s):
            i = s + a
            js = np.unique(owner[near[a]])
            # both directions: i's variants against j as it is, and j's variants against i
            d1 = hamming(hashes[i][:, None, :], ident[js][None, :, :]).min(axis=0)
            d2 = hamming(hashes[js], ident[i][None, None, :]).min(axis=1)
            for j in js[np.minimum(d1, d2) <= max_distance]:
                pairs.add((min(i, int(j)), max(i, int(j))))
    return sorted(pairs)


#: IJG's standard luminance quantisation table (JPEG Annex K), the basis of libjpeg's quality scale.
_IJG_LUMA_SUM = sum((
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
))


def jpeg_quality(luma_table: Sequence[int]) -> float:
    """libjpeg quality (1-100) whose scaled standard table best matches ``luma_table`` (on average)."""
    scale = 100.0 * sum(luma_table) / _IJG_LUMA_SUM  # libjpeg: 5000/q below 50, 200 - 2q above
    return float(np.clip(5000.0 / scale if scale > 100.0 else (200.0 - scale) / 2.0, 1.0, 100.0))


@dataclass(frozen=True)
class Fidelity:
    """How much of the picture a file holds: pixels, then compression (lossless counts as 100)."""

    pixels: int
    quality: float  # JPEG quality estimate; 100 for lossless formats
    bytes_per_pixel: float  # lossy formats only (0 for lossless, where it says nothing)


def image_fidelity(path: Any) -> Fidelity:
    """Pixels and compression of an image file, from its header (EXIF rotation does not matter)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            fmt = im.format
            tables = getattr(im, "quantization", None) or {}
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageFileError(path, f"cannot read header: {err}") from None
    pixels = w * h
    if fmt == "JPEG" and 0 in tables:
        size = Path(path).stat().st_size
        return Fidelity(pixels, round(jpeg_quality(list(tables[0])), 1), size / max(pixels, 1))
    lossy = fmt in ("WEBP", "MPO")
    return Fidelity(pixels, 100.0 if not lossy else 90.0,
                    Path(path).stat().st_size / max(pixels, 1) if lossy else 0.0)


def person_labeled(ann: Annotation) -> bool:
    """A person labeled or reviewed this image: marked reviewed, or a human or accepted label."""
    return (ann.meta.reviewed
            or any(lab.review in (None, "accepted") for lab in ann.meta.image_labels)
            or any(s.review in (None, "accepted") for s in ann.shapes))


def _class_of(ann: Annotation) -> str:
    labels = ann.labels()
    return max(set(labels), key=labels.count) if labels else ""


#: Transforms that leave a picture upright (a mirror image of an animal is still upright).
_UPRIGHT = {TRANSFORMS.index("identical"), TRANSFORMS.index("flipped horizontally")}


@dataclass
class _Img:
    item: Item
    labeled: bool
    person: bool = False
    label: str = ""
    digest: str = ""
    hashes: np.ndarray | None = None
    inv: np.ndarray | None = None
    fidelity: Fidelity = Fidelity(0, 0.0, 0.0)


#: Images per batch of :class:`ImageFeatures` (a round trip to a Ray worker).
FEATURE_BATCH = 32

#: One image's features: sha256, hashes (None without ``near``), invariant vectors (None on
#: small sets) and fidelity.
Features = tuple[str, "np.ndarray | None", "np.ndarray | None", Fidelity]


@dataclass(frozen=True)
class ImageFeatures:
    """The per-image part of ``duplicates`` (a :class:`~labeler.plugin_api.BatchTask`): for
    each image path of a batch its :data:`Features`, or the problem that stopped it."""

    near: bool = True
    with_inv: bool = False

    def setup(self) -> None:
        """Nothing to load."""

    def __call__(self, batch: list[Path]) -> list[Features | str]:
        """Features (or a problem) per path, in order."""
        return [self._one(path) for path in batch]

    def _one(self, path: Path) -> Features | str:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            hashes = inv = None
            if self.near:
                hashes, inv = image_hashes(path)
            return digest, hashes, inv if self.with_inv else None, image_fidelity(path)
        except ImageFileError as err:
            return str(err).removeprefix(f"{path}: ")
        except OSError as err:
            return f"cannot read: {err.strerror or err}"

    def lost(self, batch: list[Path], problem: str) -> list[Features | str]:
        """``problem`` for every path of ``batch``."""
        return [problem] * len(batch)


class Duplicates(Check):
    """Exact and near-duplicate images (flips, rotations, rescales, recompression, crops) and leakage."""

    name = "duplicates"
    description = "Exact and near-duplicate images (flipped, rotated, rescaled, recompressed, cropped) and train/val/test leakage."
    Options = DuplicatesOptions
    requires = ("scipy",)
    scope: ClassVar[str] = "dataset"
    needs_image = False
    options: DuplicatesOptions

    def run(self, dataset: Dataset, items: Sequence[tuple[Item, Annotation]],
            progress: Progress) -> Iterator[Finding]:
        o = self.options
        imgs: list[_Img] = []
        total = len(items)
        # Each image's digest, hashes and header: on the run's engine (Ray workers under
        # --engine ray, reading the images themselves); the comparisons stay here.
        task = ImageFeatures(o.near, with_inv=total >= o.brute_force_below)
        batches = [list(items[b:b + FEATURE_BATCH]) for b in range(0, total, FEATURE_BATCH)]
        answers = self.map_batches(task, ([it.image_path for it, _ in b] for b in batches))
        done = 0
        for batch, features in zip(batches, answers, strict=True):
            for (item, ann), got in zip(batch, features, strict=True):
                if isinstance(got, str):
                    self.skip_image(item, got)
                    continue
                rec = _Img(item, ann.is_labeled, person_labeled(ann), _class_of(ann))
                rec.digest, rec.hashes, rec.inv, rec.fidelity = got
                imgs.append(rec)
            done += len(batch)
            progress(done, total)
        uf = _UnionFind(len(imgs))
        by_digest: dict[str, int] = {}
        for i, rec in enumerate(imgs):
            first = by_digest.setdefault(rec.digest, i)
            if first != i:
                uf.union(first, i)
        hashes = None
        if o.near and imgs:
            hashes = np.stack([r.hashes for r in imgs])  # type: ignore[misc]
            inv = np.stack([r.inv for r in imgs]) if imgs[0].inv is not None else None  # type: ignore[misc]
            for i, j in near_pairs(hashes, o.max_distance, inv, o.candidates):
                uf.union(i, j)
        groups: dict[int, list[int]] = {}
        for i in range(len(imgs)):
            groups.setdefault(uf.find(i), []).append(i)
        centroids = _ClassCentroids(imgs, hashes) if hashes is not None else None
        for members in groups.values():
            if len(members) > 1:
                yield from self._group_findings(imgs, members, hashes, centroids)

    def _group_findings(self, imgs: list[_Img], members: list[int], hashes: np.ndarray | None,
                        centroids: _ClassCentroids | None = None) -> Iterator[Finding]:
        upright = self._orientation_rank(imgs, members, hashes, centroids)

        def rank(i: int) -> tuple[Any, ...]:
            r = imgs[i]
            f = r.fidelity
            return (not r.person, not r.labeled, _SPLIT_RANK[split_of(r.item.rel)], upright[i],
                    -f.pixels, -f.quality, -f.bytes_per_pixel, r.item.rel)

        members = sorted(members, key=rank)
        rep = imgs[members[0]]
        rep_split = split_of(rep.item.rel)
        rels = [imgs[i].item.rel for i in members]
        splits = {split_of(r) for r in rels}
        for i in members[1:]:
            r = imgs[i]
            split = split_of(r.item.rel)
            if r.digest == rep.digest:
                kind, score, how = "duplicate", 1.0, "same file bytes as"
            else:
                assert hashes is not None
                dist, t = best_match(hashes[members[0]], hashes[i])
                kind = "near_duplicate"
                score = round(1.0 - 0.5 * dist / max(self.options.max_distance, 1), 4)
                how = f"near-duplicate ({TRANSFORMS[t]}, hash distance {dist}) of"
            detail = f"{how} {rep.item.rel}"
            if len(splits) > 1 and split != rep_split:
                kind = "leakage"
                detail += f" ({split or 'no split'} copy of a {rep_split or 'no-split'} image)"
            if len(members) > 2:
                detail += f"; group of {len(members)}"
            others = [rel for rel in rels if rel != r.item.rel]
            yield Finding(r.item.rel, Issue(
                kind=kind, score=score, detail=detail, related_files=others[:20],
                suggested_fix={"action": "exclude", "reason": f"{kind.replace('_', ' ')} of {rep.item.rel}",
                               "keep": rep.item.rel},
            ))


    def _orientation_rank(self, imgs: list[_Img], members: list[int], hashes: np.ndarray | None,
                          centroids: _ClassCentroids | None) -> dict[int, tuple[int, float]]:
        """Per member: (minus the members sharing its orientation, distance of that set to its class).

        Two members share an orientation when one is the other unrotated (as it is, rescaled,
        recompressed, cropped or mirrored left-right). The orientation most members share wins;
        on a tie (an image and its rotation), the set whose hashes are closest to the rest of
        its class.
        """
        if hashes is None or len(members) < 2:
            return {i: (0, 0.0) for i in members}
        same: dict[int, frozenset[int]] = {}
        for i in members:
            same[i] = frozenset(j for j in members if j == i or self._same_orientation(hashes, i, j))
        dist: dict[frozenset[int], float] = {}
        for group in set(same.values()):
            dist[group] = (round(float(np.mean([centroids.distance(imgs, j, members) for j in sorted(group)])), 2)
                           if centroids is not None else 0.0)
        return {i: (-len(same[i]), dist[same[i]]) for i in members}

    def _same_orientation(self, hashes: np.ndarray, i: int, j: int) -> bool:
        d, t = best_match(hashes[i], hashes[j])
        return t in _UPRIGHT and d <= self.options.max_distance


class _ClassCentroids:
    """Mean plain hash bits per class (and overall), to say which orientation a class usually has."""

    def __init__(self, imgs: list[_Img], hashes: np.ndarray) -> None:
        self.bits = np.unpackbits(hashes[:, 0].astype(">u8").view(np.uint8), axis=1).astype(np.float32)
        self.labels = [r.label for r in imgs]
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}
        for lab, row in zip(self.labels, self.bits, strict=True):
            self.sums[lab] = self.sums.get(lab, 0) + row
            self.counts[lab] = self.counts.get(lab, 0) + 1
        self.total, self.n = self.bits.sum(axis=0), len(imgs)

    def distance(self, imgs: list[_Img], i: int, group: list[int]) -> float:
        """Expected bit difference between ``i`` and the other images of its class (outside ``group``)."""
        lab = self.labels[i]
        inside = [j for j in group if self.labels[j] == lab]
        count = self.counts.get(lab, 0) - len(inside)
        total = self.sums.get(lab, 0) - self.bits[inside].sum(axis=0) if count > 0 else None
        if total is None:  # no other image of its class: compare with everything else
            count = self.n - len(group)
            if count <= 0:
                return 0.0
            total = self.total - self.bits[group].sum(axis=0)
        mean = total / count
        row = self.bits[i]
        return float((row * (1 - mean) + (1 - row) * mean).sum())


class ExcludeDuplicates(SuggestedFixer):
    """Marks the copies in each duplicate group excluded from export (reversible; no file deleted)."""

    name = "duplicates"
    description = "Exclude all but one image of each duplicate group from export (undo with --undo)."
    kinds: ClassVar[tuple[str, ...]] = ("duplicate", "near_duplicate", "leakage")


@hookimpl
def register_checks(register: Any) -> None:
    register(Duplicates)


@hookimpl
def register_fixers(register: Any) -> None:
    register(ExcludeDuplicates)
