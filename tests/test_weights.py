"""Weights resolution: user path, models folder, cache folder, verified download, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from labeler import weights
from labeler.errors import MissingWeightsError, WeightsMismatchError
from labeler.weights import KnownWeights, resolve_weights


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real cache or models folder; offline unless a test says otherwise."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LABELER_MODELS", raising=False)
    for var in weights.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(weights.sys, "platform", "linux")
    return tmp_path


def test_a_user_path_wins(tmp_path: Path) -> None:
    f = tmp_path / "mine.pt"
    f.write_bytes(b"x")
    assert resolve_weights(str(f)) == f


def test_models_folder_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache" / "labeler" / "models"
    cache.mkdir(parents=True)
    (cache / "w.pt").write_bytes(b"cache")
    assert resolve_weights("w.pt") == cache / "w.pt"
    models = tmp_path / "models"
    models.mkdir()
    (models / "w.pt").write_bytes(b"env")
    monkeypatch.setenv("LABELER_MODELS", str(models))
    assert resolve_weights("w.pt") == models / "w.pt"
    assert weights.model_dirs() == [models, cache]


def test_offline_missing_known_file_says_which_where_and_whence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights("sam_vit_b_01ec64.pth", option="checkpoint")
    msg = str(info.value)
    assert "\n" not in msg
    assert "sam_vit_b_01ec64.pth" in msg
    assert "labeler/models/sam_vit_b_01ec64.pth" in msg  # where to put it
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in msg
    assert "ec2df627" in msg and "-o checkpoint PATH" in msg and "offline" in msg


def test_unknown_missing_file() -> None:
    with pytest.raises(MissingWeightsError, match="not a file labeler knows how to download"):
        resolve_weights("/nowhere/custom.pt")


def _fake_known(tmp_path: Path, payload: bytes, sha: str | None) -> KnownWeights:
    src = tmp_path / "origin" / "fake.pth"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(payload)
    return KnownWeights("fake.pth", src.as_uri(), sha, "a test file")


def test_download_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"weights" * 1000
    known = _fake_known(tmp_path, payload, hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake.pth", known)
    path = resolve_weights("fake.pth")
    assert path == tmp_path / "cache" / "labeler" / "models" / "fake.pth"
    assert path.read_bytes() == payload
    assert weights.file_sha256(path) == known.sha256


def test_download_with_wrong_hash_is_discarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = _fake_known(tmp_path, b"tampered", "0" * 64)
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake.pth", known)
    with pytest.raises(MissingWeightsError, match="sha256"):
        resolve_weights("fake.pth")
    folder = tmp_path / "cache" / "labeler" / "models"
    assert not any(folder.iterdir())  # neither the file nor a partial download remains


def test_failed_download_is_a_missing_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = KnownWeights("gone.pth", (tmp_path / "nope.pth").as_uri(), "0" * 64, "a test file")
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "gone.pth", known)
    with pytest.raises(MissingWeightsError, match="download failed"):
        resolve_weights("gone.pth")


def test_official_downloads_are_pinned() -> None:
    """Every SAM checkpoint and the common YOLO assets carry a well-formed sha256."""
    import re

    pinned = {name for name, k in weights.KNOWN_WEIGHTS.items() if k.sha256}
    for name in ("sam_vit_b_01ec64.pth", "sam_vit_l_0b3195.pth", "sam_vit_h_4b8939.pth",
                 "yolov8n.pt", "yolov8s.pt", "yolov8n-seg.pt", "yolo11n.pt", "yolo11n-seg.pt"):
        assert name in pinned, name
    for k in weights.KNOWN_WEIGHTS.values():
        assert k.url.endswith("/" + k.filename)
        assert k.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", k.sha256), k.filename
    digests = [k.sha256 for k in weights.KNOWN_WEIGHTS.values() if k.sha256]
    assert len(digests) == len(set(digests))  # no copy-paste slip


def test_no_unchecked_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A known file without a pinned digest is never fetched; the error says where it is."""
    known = _fake_known(tmp_path, b"weights", None)
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake.pth", known)
    with pytest.raises(MissingWeightsError, match="no confirmed sha256") as err:
        resolve_weights("fake.pth")
    assert known.url in str(err.value)
    assert not (tmp_path / "cache" / "labeler" / "models" / "fake.pth").exists()


def test_paths_and_bare_names() -> None:
    assert weights.is_user_path("./yolov8n.pt") and weights.is_user_path("runs/w/best.pt")
    assert weights.is_user_path("/abs/yolov8n.pt") and weights.is_user_path("~/w.pt")
    assert not weights.is_user_path("yolov8n.pt") and not weights.is_user_path("best.pt")


def test_an_official_name_is_never_taken_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted yolov8n.pt in the cwd is not used; the error says how to use it on purpose."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    (tmp_path / "yolov8n.pt").write_bytes(b"planted")
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights("yolov8n.pt")
    msg = str(info.value)
    assert "not found" in msg and "-o model ./yolov8n.pt" in msg and "\n" not in msg
    # written as a path, it is the user's own file, made absolute for the loader
    assert resolve_weights("./yolov8n.pt") == tmp_path / "yolov8n.pt"
    assert resolve_weights("./yolov8n.pt").is_absolute()


def test_an_unofficial_name_typed_by_the_user_is_their_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "best.pt").write_bytes(b"mine")
    assert resolve_weights("best.pt") == tmp_path / "best.pt"


def test_an_official_name_in_the_models_folder_must_match_its_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("LABELER_MODELS", str(models))
    payload = b"official bytes"
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake.pth", _fake_known(tmp_path, payload, hashlib.sha256(payload).hexdigest()))
    (models / "fake.pth").write_bytes(b"something else")
    with pytest.raises(WeightsMismatchError) as info:
        resolve_weights("fake.pth", option="checkpoint")
    msg = str(info.value)
    assert f"{models / 'fake.pth'} does not match the official sha256" in msg
    assert "delete it" in msg and f"-o checkpoint {models / 'fake.pth'}" in msg and "\n" not in msg
    assert resolve_weights(str(models / "fake.pth")) == models / "fake.pth"  # by path: the user's choice
    (models / "fake.pth").write_bytes(payload)
    assert resolve_weights("fake.pth") == models / "fake.pth"


def test_an_official_name_without_a_digest_is_taken_from_the_models_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake.pth", _fake_known(tmp_path, b"x", None))
    cache = tmp_path / "cache" / "labeler" / "models"
    cache.mkdir(parents=True)
    (cache / "fake.pth").write_bytes(b"put there by the user")
    assert resolve_weights("fake.pth") == cache / "fake.pth"


def test_the_other_sam_models_and_text_encoders_are_known() -> None:
    """MobileSAM, SAM 2.1, YOLOE, YOLO-World and MobileCLIP resolve by their official names from
    Ultralytics' release (no confirmed digest: never downloaded); OpenAI's CLIP ViT-B/32 is
    pinned to the sha256 its URL carries."""
    for name in ("mobile_sam.pt", "sam2.1_t.pt", "sam2.1_l.pt", "yoloe-11s-seg.pt", "yolov8s-worldv2.pt", "mobileclip_blt.ts"):
        known = weights.KNOWN_WEIGHTS[name]
        assert known.url == "https://github.com/ultralytics/assets/releases/download/v8.4.0/" + name
        assert known.sha256 is None
    clip = weights.KNOWN_WEIGHTS["ViT-B-32.pt"]
    assert clip.sha256 is not None and f"/{clip.sha256}/" in clip.url
