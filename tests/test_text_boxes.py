"""text_boxes and text_sam: open-vocabulary detectors (YOLOE, YOLO-World) built from their
ultralytics configs with random weights, fed class-name embeddings from randomly initialised
text encoders saved as files, through the plugin's real loading and prediction path."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("YOLO_OFFLINE", "1")
pytest.importorskip("ultralytics")
pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from labeler_plugins import sam as samplug  # noqa: E402
from labeler_plugins.text_boxes import (  # noqa: E402
    TextBoxesAutolabeler,
    TextBoxesOptions,
    TextEncoder,
    TextSamAutolabeler,
)

from labeler.cli import cli  # noqa: E402
from labeler.dataset import Item  # noqa: E402
from labeler.errors import MissingWeightsError, UsageError  # noqa: E402
from labeler.model import Annotation  # noqa: E402
from labeler.plugin_api import Sample  # noqa: E402
from tests.test_sam import MICRO  # noqa: E402

NAMES = ["pill", "blister pack"]


@pytest.fixture(scope="module", autouse=True)
def ultralytics_sandbox(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics")))


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LABELER_MODELS", raising=False)


class _TinyTextEncoder(torch.nn.Module):
    """MobileCLIP's TorchScript interface (tokens in, unit vectors out), at a tiny size."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(49408, 8)
        self.proj = torch.nn.Linear(8, 512)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.embed(tokens).mean(1))
        return torch.nn.functional.normalize(x, dim=-1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-init YOLOE and YOLO-World detectors, a plain YOLO, and two text encoders."""
    from open_clip.model import CLIP
    from ultralytics import YOLO

    out = tmp_path_factory.mktemp("text_boxes")
    torch.manual_seed(0)
    paths = {
        "yoloe": out / "yoloe-tiny.pt", "world": out / "tiny-worldv2.pt", "plain": out / "plain.pt",
        "ts": out / "tiny_text.ts", "clip": out / "tiny_clip.pt",
    }
    YOLO("yoloe-11n.yaml").save(str(paths["yoloe"]))
    YOLO("yolov8s-worldv2.yaml").save(str(paths["world"]))
    YOLO("yolov8n.yaml").save(str(paths["plain"]))
    torch.jit.script(_TinyTextEncoder()).save(str(paths["ts"]))
    # OpenAI's CLIP layout (what ViT-B-32.pt holds), at a tiny width and depth.
    clip = CLIP(
        embed_dim=512, quick_gelu=True,
        vision_cfg={"layers": 1, "width": 64, "patch_size": 32, "image_size": 64},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
    )
    torch.save(clip.state_dict(), paths["clip"])
    return paths


def _sample(tmp_path: Path) -> Sample:
    arr = np.full((96, 128, 3), 200, np.uint8)
    arr[20:70, 30:90] = (20, 40, 220)
    img = Image.fromarray(arr)
    item = Item(image_path=tmp_path / "a.jpg", label_path=tmp_path / "a.json", rel="a.jpg")
    ann = Annotation(imagePath="a.jpg", imageWidth=img.width, imageHeight=img.height, shapes=[])
    return Sample(item=item, annotation=ann, image=img)


def _opts(files: dict[str, Path], model: str = "yoloe", encoder: str = "ts", **kw: object) -> dict[str, object]:
    return {"classes": ",".join(NAMES), "model": str(files[model]), "text_encoder": str(files[encoder]),
            "conf": 0.0001, "max_det": 5, "imgsz": 64, "device": "cpu", **kw}


def test_yoloe_boxes_carry_the_text_classes_score_and_source(files: dict[str, Path], tmp_path: Path) -> None:
    from labeler.weights import file_sha256

    plugin = TextBoxesAutolabeler(_opts(files))
    (pred,) = plugin.predict([_sample(tmp_path)])
    assert 0 < len(pred) <= 5
    assert set(pred.class_name) <= set(NAMES)
    assert ((pred.confidence >= 0.0001) & (pred.confidence <= 1)).all()
    assert plugin.known_classes() == NAMES
    src = plugin.source()
    assert src.plugin == "text_boxes" and src.model == "yoloe-tiny.pt+tiny_text.ts"
    assert src.model_version == f"{file_sha256(files['yoloe'])[:12]}+{file_sha256(files['ts'])[:12]}"
    # The class embeddings in the model are the encoder's, for these names, through YOLOE's text head.
    feats = TextEncoder.load(files["ts"]).encode(NAMES)
    head = plugin.model.model.model[-1]
    with torch.inference_mode():
        expected = head.get_tpe(feats[None])
    assert torch.allclose(plugin.model.model.pe, expected)
    assert dict(plugin.model.model.names) == dict(enumerate(NAMES))


def test_yolo_world_takes_an_openai_clip_state_dict(files: dict[str, Path], tmp_path: Path) -> None:
    plugin = TextBoxesAutolabeler(_opts(files, model="world", encoder="clip"))
    preds = plugin.predict([_sample(tmp_path), _sample(tmp_path)])
    assert len(preds) == 2 and all(set(p.class_name) <= set(NAMES) for p in preds)
    feats = TextEncoder.load(files["clip"]).encode(NAMES)
    assert feats.shape == (2, 512)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(2))
    assert torch.allclose(plugin.model.model.txt_feats.reshape(2, 512), feats)
    assert plugin.model.model.model[-1].nc == 2


def test_the_default_text_encoder_missing_is_one_clear_message(files: dict[str, Path]) -> None:
    for model, name in (("yoloe", "mobileclip_blt.ts"), ("world", "ViT-B-32.pt")):
        opts = _opts(files, model=model)
        opts.pop("text_encoder")
        with pytest.raises(MissingWeightsError) as info:
            TextBoxesAutolabeler(opts).setup()
        msg = str(info.value)
        assert "\n" not in msg and name in msg and "-o text_encoder PATH" in msg
    world = _opts(files, model="world")
    world.pop("text_encoder")
    with pytest.raises(MissingWeightsError, match="openaipublic.azureedge.net/clip/models/40d36571"):
        TextBoxesAutolabeler(world).setup()


def test_a_file_that_is_no_text_encoder_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.ts"
    bad.write_bytes(b"not a model")
    with pytest.raises(MissingWeightsError, match=r"bad.ts: not a text encoder labeler can read"):
        TextBoxesAutolabeler({**_opts(files), "text_encoder": str(bad)}).setup()


def test_a_closed_vocabulary_model_is_refused(files: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="is not an open-vocabulary model"):
        TextBoxesAutolabeler(_opts(files, model="plain")).setup()


def test_options_split_and_check_the_class_names() -> None:
    assert TextBoxesOptions(classes="pill, blister pack,").classes == NAMES
    with pytest.raises(ValueError, match="repeated: pill"):
        TextBoxesOptions(classes="pill,pill")
    with pytest.raises(ValueError, match="classes"):
        TextBoxesOptions()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def micro_sam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "micro_sam.pth"
    samplug.save_config_checkpoint(samplug.build_sam_from_config(MICRO), MICRO, path)
    return path


def test_text_sam_outlines_the_text_boxes(files: dict[str, Path], micro_sam: Path, tmp_path: Path) -> None:
    chain = TextSamAutolabeler({"text_boxes": _opts(files), "sam": {"checkpoint": str(micro_sam), "min_area": 0, "device": "cpu"}})
    (pred,) = chain.predict([_sample(tmp_path)])
    assert pred.polygons is not None and len(pred.polygons) == len(pred)
    assert set(pred.class_name) <= set(NAMES)
    assert chain.output_kind() == "polygon" and chain.known_classes() == NAMES
    src = chain.source()
    assert src.plugin == "text_sam" and src.model == "yoloe-tiny.pt+tiny_text.ts+micro_sam.pth"


def test_text_sam_errors_name_the_stage_option(files: dict[str, Path], micro_sam: Path) -> None:
    opts = _opts(files)
    opts["text_encoder"] = "mobileclip_blt.ts"
    chain = TextSamAutolabeler({"text_boxes": opts, "sam": {"checkpoint": str(micro_sam)}})
    with pytest.raises(MissingWeightsError, match=r"-o text_boxes.text_encoder PATH"):
        chain.setup()
    chain = TextSamAutolabeler({"text_boxes": _opts(files), "sam": {"model_type": "mobile_sam"}})
    with pytest.raises(MissingWeightsError, match=r"-o sam.checkpoint PATH"):
        chain.setup()


def test_autolabel_command_with_text_prompts(files: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.jpg", "b.jpg"):
        _sample(tmp_path).image.save(data / name)
    shutil.copy(files["ts"], tmp_path / "enc.ts")
    args = ["autolabel", str(data), "--plugin", "text_boxes", "-o", "classes", "pill,blister pack",
            "-o", "model", str(files["yoloe"]), "-o", "text_encoder", str(tmp_path / "enc.ts"),
            "-o", "conf", "0.0001", "-o", "max_det", "3", "-o", "imgsz", "64", "-o", "device", "cpu", "--no-progress"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    for name in ("a.json", "b.json"):
        shapes = json.loads((data / name).read_text())["shapes"]
        assert shapes and all(s["label"] in NAMES for s in shapes)
        assert all(s["labeler"]["source"]["plugin"] == "text_boxes" and s["labeler"]["review"] == "suggested" for s in shapes)
        assert all(0 < s["labeler"]["score"] <= 1 for s in shapes)
