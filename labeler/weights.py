"""Find model weight files: a path the user gave, a models folder, or the official download.

A model file is code as much as data: an ultralytics ``.pt`` is a full pickle, and loading a
pickle runs whatever it says. So where a file may come from is a rule, not a convenience:

* **A path the user wrote** (``-o model ./my.pt``, ``runs/x/best.pt``, ``/abs/yolov8n.pt``,
  ``~/w.pt``: anything with a folder separator, or starting with ``~``) is the user's own
  file: it is loaded as is (its sha256 is recorded in each suggestion, not checked).
* **A bare file name** is never looked up in the current folder or the dataset folder,
  except an unofficial name the user typed (``-o model best.pt``, with ``best.pt`` in the
  current folder): defaults are always official names, so a file planted beside the data
  under a default name is never picked up. To use a file in the current folder that has an
  official name, write it as a path: ``-o model ./yolov8n.pt``.
* An official name (one of :data:`KNOWN_WEIGHTS`: ``yolov8n.pt``, ``sam_vit_b_01ec64.pth``...)
  resolves only through these folders, in order:

  1. ``$LABELER_MODELS/<file name>`` when the environment variable is set;
  2. the user cache folder, ``~/.cache/labeler/models/<file name>`` (``$XDG_CACHE_HOME`` is
     honoured; ``%LOCALAPPDATA%`` on Windows);
  3. the official download, for files with a pinned sha256, into the first folder of 1-2,
     checked against it (a mismatch is deleted and reported).

  A file found there under an official name must match that name's pinned sha256; if it
  does not, :class:`WeightsMismatchError` says so and the file is never loaded (the few
  official names without a confirmed digest are taken as they are).

The result is always an absolute path, so that the library that loads it (ultralytics
searches the current folder and downloads by name) gets exactly the file checked here.

When nothing works a :class:`~labeler.errors.MissingWeightsError` says which file, where to
put it and where it comes from, in one line. ``LABELER_OFFLINE=1`` (or ``YOLO_OFFLINE``,
``HF_HUB_OFFLINE``) skips the download attempt.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from labeler.errors import MissingWeightsError, WeightsMismatchError

ENV_MODELS = "LABELER_MODELS"
OFFLINE_VARS = ("LABELER_OFFLINE", "YOLO_OFFLINE", "HF_HUB_OFFLINE")
DOWNLOAD_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class KnownWeights:
    """A weights file with a known origin."""

    filename: str
    url: str
    #: Pinned sha256 of the official file; None when the publisher gives none (not verified).
    sha256: str | None
    what: str


_SAM_BASE = "https://dl.fbaipublicfiles.com/segment_anything/"
#: The release ultralytics 8.4 itself downloads from.
_YOLO_BASE = "https://github.com/ultralytics/assets/releases/download/v8.4.0/"

#: sha256 of Ultralytics' v8.4.0 release assets (the digests GitHub publishes for each asset,
#: cross-checked against independent projects that pin the same files). None: no digest could
#: be confirmed; such a file is never downloaded (the error names its URL, to fetch by hand).
_YOLO_SHA256: dict[str, str | None] = {
    "yolov8n.pt": "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36",
    "yolov8s.pt": "1f47a78bf100391c2a140b7ac73a1caae18c32779be7d310658112f7ac9aa78a",
    "yolov8m.pt": "5d4a90cdc7a21786cc59cd19778e9eafff836df9e2da32524737c7ee6efe4fe5",
    "yolov8l.pt": "64c9115303f6a25575f82200d1b22ec409fa6bd7d08d0313884fc20d919478cd",
    "yolov8x.pt": "3df4ada6b4dad6d657868f2fdf7faecfb34dcfccf3a25c4b82079064718524c8",
    "yolov8n-seg.pt": "a7cd8f929e1903d78a12a48efecab430209f18dc46cb96c3599a5980c63c423c",
    "yolov8s-seg.pt": "0bac0770b55e5eb5b76a61bc535673288dcec36c2bc0cd25ee0d584c632f3413",
    "yolov8m-seg.pt": None,
    "yolov8l-seg.pt": "ca3ec94c445aeaf79c2b57982fb451060f18a7561e2c20b4d26bb9dc1fcabf93",
    "yolov8x-seg.pt": "c333d6a7aff884ec821050eacdab29871f3edd10d996cf48746a02f8e01f1b5d",
    "yolov8n-obb.pt": "fa6e4cd2691f132875c143135affaa66b5d89394ebb1d07d19770a9b6382c1b8",
    "yolov8s-obb.pt": None,
    "yolov8m-obb.pt": None,
    "yolov8l-obb.pt": None,
    "yolov8x-obb.pt": None,
    "yolo11n.pt": "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
    "yolo11s.pt": "85a76fe86dd8afe384648546b56a7a78580c7cb7b404fc595f97969322d502d5",
    "yolo11m.pt": "d5ffc1a674953a08e11a8d21e022781b1b23a19b730afc309290bd9fb5305b95",
    "yolo11l.pt": "9ebd0e09d59811db4b1d61e2bc6730649608b1ac47f8dd01e2da6bca7c20023f",
    "yolo11x.pt": "7bc158aa95c0ebfdd87f70f01653c1131b93e92522dbe15c228bcd742e773a24",
    "yolo11n-seg.pt": "55ed65c56c91713d23e8402371c6c49a6fd84f257f7dce452e8d70e41dcbe152",
    "yolo11s-seg.pt": "1caa81c0195412efa411b632bcfb8c184939dddb6ae41f6a80c41b211ff257c3",
}

#: Ultralytics' v8.4.0 release assets for the other SAM models and the open-vocabulary
#: detectors (``text_boxes``). No digest of these could be confirmed, so none is downloaded:
#: the error names the URL, to fetch by hand into the models folder.
_ULTRALYTICS_OTHER: dict[str, str] = {
    "mobile_sam.pt": "MobileSAM (TinyViT encoder, 10 M parameters)",
    **{f"sam2.1_{k}.pt": f"SAM 2.1 {size}" for k, size in zip("tsbl", ("tiny", "small", "base+", "large"), strict=True)},
    **{f"sam2_{k}.pt": f"SAM 2 {size}" for k, size in zip("tsbl", ("tiny", "small", "base+", "large"), strict=True)},
    **{f"yoloe-11{k}-seg.pt": f"YOLOE-11{k.upper()} open-vocabulary detector (segment)" for k in "sml"},
    **{f"yoloe-v8{k}-seg.pt": f"YOLOE-v8{k.upper()} open-vocabulary detector (segment)" for k in "sml"},
    **{f"yolov8{k}-worldv2.pt": f"YOLO-World v2 {k.upper()} open-vocabulary detector" for k in "smlx"},
    **{f"yolov8{k}-world.pt": f"YOLO-World {k.upper()} open-vocabulary detector" for k in "smlx"},
    "mobileclip_blt.ts": "MobileCLIP-B(LT) text encoder, TorchScript (YOLOE's class-name encoder)",
}

#: Official files the resolver may download, with their pinned sha256 where there is one.
KNOWN_WEIGHTS: dict[str, KnownWeights] = {
    k.filename: k
    for k in (
        KnownWeights(
            "sam_vit_b_01ec64.pth",
            _SAM_BASE + "sam_vit_b_01ec64.pth",
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            "Segment Anything ViT-B (375 MB)",
        ),
        KnownWeights(
            "sam_vit_l_0b3195.pth",
            _SAM_BASE + "sam_vit_l_0b3195.pth",
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            "Segment Anything ViT-L (1.2 GB)",
        ),
        KnownWeights(
            "sam_vit_h_4b8939.pth",
            _SAM_BASE + "sam_vit_h_4b8939.pth",
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            "Segment Anything ViT-H (2.6 GB)",
        ),
        *(
            KnownWeights(name, _YOLO_BASE + name, digest, f"Ultralytics {name.removesuffix('.pt')} ({'DOTA' if '-obb' in name else 'COCO'})")
            for name, digest in _YOLO_SHA256.items()
        ),
        *(KnownWeights(name, _YOLO_BASE + name, None, what) for name, what in _ULTRALYTICS_OTHER.items()),
        KnownWeights(
            "ViT-B-32.pt",
            # OpenAI publishes each CLIP file under its sha256 (the clip package checks it).
            "https://openaipublic.azureedge.net/clip/models/"
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
            "OpenAI CLIP ViT-B/32 (YOLO-World's class-name encoder, 338 MB)",
        ),
    )
}


def user_cache_dir() -> Path:
    """``~/.cache/labeler/models`` (or the platform's equivalent)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "labeler" / "models"


def model_dirs() -> list[Path]:
    """Folders searched for weights by file name, in order."""
    dirs = []
    env = os.environ.get(ENV_MODELS)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(user_cache_dir())
    return dirs


def is_offline() -> bool:
    """True when an offline switch is set in the environment."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in OFFLINE_VARS)


_digests: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file (memoised per path, size and mtime: big checkpoints are hashed once)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _digests[key] = h.hexdigest()
    return _digests[key]


def _where_to_put(name: str) -> str:
    dirs = model_dirs()
    where = str(dirs[0] / name)
    if len(dirs) > 1:
        where += f" (or {dirs[1] / name})"
    elif ENV_MODELS not in os.environ:
        where += f" (or a folder named by ${ENV_MODELS})"
    return where


def missing_message(name: str, option: str = "model", detail: str = "") -> str:
    """The one-line message of a missing weights file."""
    known = KNOWN_WEIGHTS.get(Path(name).name)
    origin = (
        f"it is {known.what}, from {known.url}"
        + (f" (sha256 {known.sha256})" if known.sha256 else "")
        if known
        else "it is not a file labeler knows how to download"
    )
    msg = (
        f"model file {name!r} not found: put it at {_where_to_put(Path(name).name)} "
        f"or pass its path with -o {option} PATH; {origin}"
    )
    return msg + (f"; {detail}" if detail else "")


def download(known: KnownWeights, dest_dir: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``known`` into ``dest_dir`` atomically, checking its sha256 when pinned."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / known.filename
    fd, tmp_name = tempfile.mkstemp(prefix=f".{known.filename}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(known.url, timeout=timeout) as resp:  # noqa: S310 - fixed URLs
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
                h.update(chunk)
        if known.sha256 and h.hexdigest() != known.sha256:
            raise MissingWeightsError(
                f"downloaded {known.url} but its sha256 is {h.hexdigest()}, expected "
                f"{known.sha256}: file discarded; download it by hand and put it at {dest}"
            )
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def is_user_path(name: str | Path) -> bool:
    """True when ``name`` is written as a path (absolute, ``~``, or with a folder separator).

    ``"./yolov8n.pt"`` is a path; ``"yolov8n.pt"`` is a bare name (see the module docstring).
    """
    s = str(name)
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return os.path.isabs(s) or s.startswith("~") or any(sep in s for sep in seps)


def check_official(path: Path, known: KnownWeights, option: str = "model") -> None:
    """Raise :class:`WeightsMismatchError` unless ``path`` has ``known``'s pinned sha256."""
    if known.sha256 is None:
        return
    digest = file_sha256(path)
    if digest != known.sha256:
        raise WeightsMismatchError(
            f"{path} does not match the official sha256 of {known.filename} (expected "
            f"{known.sha256}, the file has {digest}), so it was not loaded: delete it to have "
            f"labeler fetch {known.url}, or, to use your own weights, pass them by path "
            f"(-o {option} {path}, or -o {option} ./{known.filename} for a file in the current folder)"
        )


def resolve_weights(name: str | Path, option: str = "model", allow_download: bool = True) -> Path:
    """The absolute path of weights ``name`` (a path or a file name); see the module docstring.

    ``option`` is the plugin option that takes the path (named in the error messages).
    Raises :class:`MissingWeightsError` (or its :class:`WeightsMismatchError`).
    """
    s = str(name)
    if is_user_path(s):
        p = Path(s).expanduser()
        if p.is_file():
            return p.absolute()
        raise MissingWeightsError(missing_message(s, option))
    known = KNOWN_WEIGHTS.get(s)
    here = Path(s)
    if known is None and here.is_file():
        return here.absolute()  # an unofficial name the user typed: their own file here
    for d in model_dirs():
        cand = d / s
        if cand.is_file():
            if known is not None:
                check_official(cand, known, option)
            return cand.absolute()
    # An official name in the current folder is not used (it could be planted): say how to opt in.
    unused = f"the {s} in the current folder is not used unless given as a path (-o {option} ./{s})"
    note = unused if known is not None and here.is_file() else ""
    if known is None or not allow_download:
        raise MissingWeightsError(missing_message(s, option, note))
    if known.sha256 is None:
        detail = "no confirmed sha256 to check a download against, so not downloaded"
        raise MissingWeightsError(missing_message(s, option, "; ".join(filter(None, (detail, note)))))
    if is_offline():
        raise MissingWeightsError(missing_message(s, option, "; ".join(filter(None, ("offline, so not downloaded", note)))))
    try:
        return download(known, model_dirs()[0]).absolute()
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        raise MissingWeightsError(
            missing_message(s, option, f"download failed: {reason}")
        ) from None
