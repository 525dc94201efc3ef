"""The sam plugin: checkpoints, the embedding cache, the interactive session, box prompts."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("segment_anything")
torch = pytest.importorskip("torch")

from labeler_plugins import sam as samplug  # noqa: E402

from labeler.dataset import Item  # noqa: E402
from labeler.errors import MissingWeightsError, UsageError  # noqa: E402
from labeler.model import Annotation, Shape, ShapeMeta, Source  # noqa: E402
from labeler.plugin_api import Sample  # noqa: E402
from labeler.predictions import Predictions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SAM = ROOT / "sample_data" / "models" / "scenes_sam_tiny.pth"

#: Smaller still than the sample model: builds and runs in milliseconds.
MICRO = {
    "img_size": 64, "patch_size": 8, "encoder_embed_dim": 16, "encoder_depth": 2,
    "encoder_num_heads": 2, "encoder_window_size": 4, "encoder_global_attn_indexes": [1],
    "prompt_embed_dim": 16, "mask_in_chans": 4, "decoder_depth": 1, "decoder_mlp_dim": 32,
    "decoder_num_heads": 2, "iou_head_hidden_dim": 16,
}


@pytest.fixture(scope="module")
def micro_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = samplug.build_sam_from_config(MICRO)
    path = tmp_path_factory.mktemp("sam") / "micro_sam.pth"
    samplug.save_config_checkpoint(model, MICRO, path)
    return path


def _image(w: int = 120, h: int = 90) -> Image.Image:
    arr = np.full((h, w, 3), 200, np.uint8)
    arr[20:60, 30:80] = (20, 40, 220)
    return Image.fromarray(arr)


def _sample(tmp_path: Path, shapes: list[Shape] | None = None, prompts: Predictions | None = None) -> Sample:
    img = _image()
    item = Item(image_path=tmp_path / "a.jpg", label_path=tmp_path / "a.json", rel="a.jpg")
    ann = Annotation(imagePath="a.jpg", imageWidth=img.width, imageHeight=img.height, shapes=shapes or [])
    return Sample(item=item, annotation=ann, image=img, prompts=prompts)


def test_checkpoint_round_trip_keeps_config_and_weights(micro_checkpoint: Path) -> None:
    model, kind = samplug.load_sam(micro_checkpoint)
    assert kind == "sample_tiny"
    assert model.image_encoder.img_size == 64
    again, _ = samplug.load_sam(micro_checkpoint, "sample_tiny")
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_bad_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MissingWeightsError, match="not a readable SAM checkpoint"):
        samplug.load_sam(bad)
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(3, 3, 16, 16)}, tmp_path / "odd.pth")
    with pytest.raises(UsageError, match="cannot tell the SAM type"):
        samplug.load_sam(tmp_path / "odd.pth")


def test_session_encodes_once_per_image_content(micro_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    calls = []
    real = session.encode
    monkeypatch.setattr(session, "encode", lambda arr: calls.append(1) or real(arr))
    img = _image()
    session.set_image(img)
    mask, score = session.predict(points=[(50, 40)], labels=[1])
    assert mask.shape == (90, 120) and mask.dtype == bool and isinstance(score, float)
    mask2, _ = session.predict(box=(30, 20, 80, 60), refine=True)
    assert mask2.shape == (90, 120)
    masks, scores = session.predict_boxes([[30, 20, 80, 60], [0, 0, 10, 10]])
    assert masks.shape == (2, 90, 120) and scores.shape == (2,)
    session.set_image(np.asarray(img).copy())  # same content, another object: cache hit
    assert len(calls) == 1 and session.cache.hits == 1
    other = np.asarray(img).copy()
    other[0, 0] = 0
    session.set_image(other)
    assert len(calls) == 2
    best, _ = session.predict(points=[(50, 40)], multimask=True)
    assert best.shape == (90, 120)


def test_encode_apart_then_decode_is_set_image_then_predict(micro_checkpoint: Path) -> None:
    """What the GUI does ahead of the person: encode images apart (no session state touched),
    later answer prompts on one of them from the decoder alone."""
    session = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    a, b = _image(), np.asarray(_image(100, 80))
    ea, eb = session.encode(a), session.encode(b)  # a PIL image or an array
    assert session.embedding is None and len(session.cache) == 0
    got, score = session.decode(ea, points=[(50, 40), (5, 5)], labels=[1, 0], box=(30, 20, 80, 60))
    assert session.embedding is ea
    session.set_image(a)
    want, want_score = session.predict(points=[(50, 40), (5, 5)], labels=[1, 0], box=(30, 20, 80, 60))
    assert np.array_equal(got, want) and score == pytest.approx(want_score)
    other, _ = session.decode(eb, box=(10, 10, 60, 50))
    assert other.shape == (80, 100) and session.embedding is eb
    # A lone click upscales only the best of its three candidates: the same mask as upscaling all.
    got, score = session.decode(ea, points=[(50, 40)], labels=[1], multimask=True)
    masks, iou, _ = session._decode(np.array([[[50, 40]]], np.float32), np.array([[1]]), None, None, True)
    best = int(iou[0].argmax())
    assert np.array_equal(got, (masks[0, best] > session.model.mask_threshold).cpu().numpy())
    assert score == pytest.approx(float(iou[0, best]))
    from labeler.plugin_api import can_encode_apart

    assert can_encode_apart(session) and not can_encode_apart(object())
    seg = samplug.SamSegmenter()
    assert seg.models[0] == "vit_b" and {"mobile_sam", "sam2.1_t", "vit_h"} <= set(seg.models)
    assert seg.open(micro_checkpoint).model_id.startswith("sample_tiny:")


def test_cache_is_a_bounded_lru() -> None:
    cache = samplug.EmbeddingCache(maxsize=2)
    emb = samplug.Embedding(torch.zeros(1), (1, 1), (1, 1))
    for k in ("a", "b", "c"):
        cache.put(("m", k), emb)
    assert len(cache) == 2 and cache.get(("m", "a")) is None and cache.get(("m", "c")) is emb


def test_prompts_are_annotation_rectangles_plus_previous_stage(tmp_path: Path) -> None:
    human = Shape(label="box", points=[(30, 20), (80, 60)], shape_type="rectangle")
    poly = Shape(label="ball", points=[(1, 1), (5, 1), (5, 5)], shape_type="polygon")
    prev = Predictions(xyxy=[[30, 20, 80, 60], [5, 5, 25, 25]], class_name=["box", "star"], confidence=[0.9, 0.4])
    p = samplug.prompt_boxes(_sample(tmp_path, [human, poly], prev))
    # The human rectangle repeats the first previous-stage box: prompted once.
    assert list(p.class_name) == ["box", "star"]
    assert np.allclose(p.confidence, [0.9, 0.4])
    p2 = samplug.prompt_boxes(_sample(tmp_path, [human, poly]))
    assert list(p2.class_name) == ["box"] and p2.confidence[0] == 1.0


def test_autolabeler_polygons_and_masks(micro_checkpoint: Path, tmp_path: Path) -> None:
    suggested = Shape(
        label="box", points=[(28, 18), (82, 62)], shape_type="rectangle",
        labeler=ShapeMeta(score=0.7, review="suggested", source=Source(plugin="yolo")),
    )
    plugin = samplug.SamAutolabeler({"checkpoint": str(micro_checkpoint), "min_area": 0, "device": "cpu"})
    src = plugin.source()
    assert src.plugin == "sam" and src.model == "micro_sam.pth" and len(src.model_version or "") == 12
    (pred,) = plugin.predict([_sample(tmp_path, [suggested])])
    # A random-init model's masks are arbitrary, but every kept one is a labeled polygon.
    assert pred.polygons is not None and len(pred.polygons) == len(pred)
    assert all(n == "box" for n in pred.class_name)
    plugin_m = samplug.SamAutolabeler({"checkpoint": str(micro_checkpoint), "min_area": 0, "output": "mask"})
    (pm,) = plugin_m.predict([_sample(tmp_path, [suggested])])
    assert pm.masks is None or pm.masks.shape[1:] == (90, 120)
    assert plugin_m.output_kind() == "mask"


def test_no_prompts_no_encoding(micro_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = samplug.SamAutolabeler({"checkpoint": str(micro_checkpoint)})
    plugin.setup()
    assert plugin.session is not None
    monkeypatch.setattr(plugin.session, "encode", lambda arr: pytest.fail("encoded an image without prompts"))
    (pred,) = plugin.predict([_sample(tmp_path)])
    assert len(pred) == 0


def test_default_checkpoint_missing_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LABELER_MODELS", raising=False)
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match="sam_vit_l_0b3195.pth"):
        samplug.SamAutolabeler({"model_type": "vit_l"}).setup()


def test_bf16_encoder_runs(micro_checkpoint: Path) -> None:
    fp32 = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    bf16 = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu", precision="bf16")
    img = np.asarray(_image())
    a, b = fp32.encode(img).features, bf16.encode(img).features
    assert a.dtype == b.dtype == torch.float32
    assert torch.allclose(a, b, atol=0.1, rtol=0.1)


def _cpu_flags() -> set[str]:
    info = Path("/proc/cpuinfo")
    for line in info.read_text().splitlines() if info.exists() else []:
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_bf16_support_is_read_off_the_cpu() -> None:
    """oneDNN's bf16 ops need AVX-512 BW/VL/DQ or AVX-NE-CONVERT (x86): the check says which."""
    from labeler_plugins.sam_encoder import cpu_has_bf16

    flags = _cpu_flags()
    if "avx2" in flags or "avx512f" in flags:  # x86
        assert cpu_has_bf16() == ({"avx512bw", "avx512vl", "avx512dq"} <= flags or "avx_ne_convert" in flags)


def test_bf16_without_cpu_support_takes_plain_ops_and_says_so(
    micro_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU without bf16 instructions oneDNN's fused bf16 ops refuse to run: the forwards
    take torch's plain operations (the same numbers as plain bf16 layers) and the session warns
    that bf16 is slower than fp32 there; with the instructions, no warning."""
    from labeler_plugins import sam_encoder

    monkeypatch.setattr(sam_encoder, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(samplug, "cpu_has_bf16", lambda: False)
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 48).to(torch.bfloat16)
    x, res = torch.randn(5, 7, 64).bfloat16(), torch.randn(5, 7, 48).bfloat16()
    with torch.inference_mode():
        plain = torch.nn.functional.gelu(layer(x)) + res
        assert torch.equal(sam_encoder.linear(x, layer, gelu=True, residual=res), plain)
    with pytest.warns(RuntimeWarning, match="precision bf16 on a CPU without bfloat16 instructions"):
        emulated = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu", precision="bf16")
    img = np.asarray(_image())
    fp32 = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    assert torch.allclose(emulated.encode(img).features, fp32.encode(img).features, atol=0.1, rtol=0.1)
    monkeypatch.setattr(samplug, "cpu_has_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu", precision="bf16")


def test_sample_model_outlines_scene_objects() -> None:
    """The shipped tiny SAM turns true boxes of an unlabeled scene into good masks."""
    import json

    from labeler.masks import polygon_to_mask

    truth = json.loads((ROOT / "sample_data" / "truth" / "scenes_ground_truth.json").read_text())["images"]
    name = "scene_0003.jpg"
    img = Image.open(ROOT / "sample_data" / "scenes" / name).convert("RGB")
    session = samplug.SamSession.from_checkpoint(SAMPLE_SAM, device="cpu")
    session.set_image(img)
    objs = truth[name]["objects"]
    masks, _ = session.predict_boxes([o["bbox_xyxy"] for o in objs])
    ious = []
    for o, m in zip(objs, masks, strict=True):
        gt = polygon_to_mask([tuple(p) for p in o["polygon"]], img.size)
        ious.append(np.logical_and(m, gt).sum() / np.logical_or(m, gt).sum())
    assert np.mean(ious) > 0.75, ious


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize(("windows", "side"), [(25, 14), (1, 32)])
def test_chunked_attention_is_bit_identical_at_vit_b_sizes(
    monkeypatch: pytest.MonkeyPatch, dtype: str, windows: int, side: int
) -> None:
    """vit_b's attention (768 wide, 12 heads, non-zero relative positions), windowed (25
    windows of 14 x 14) and global: the banded forward gives exactly the stock numbers."""
    from segment_anything.modeling.image_encoder import Attention

    torch.manual_seed(1)
    attn = Attention(768, 12, use_rel_pos=True, input_size=(side, side)).eval()
    torch.nn.init.normal_(attn.rel_pos_h, std=0.5)
    torch.nn.init.normal_(attn.rel_pos_w, std=0.5)
    attn = attn.to(getattr(torch, dtype))
    x = torch.randn(windows, side, side, 768).to(attn.qkv.weight.dtype)
    with torch.inference_mode():
        stock = attn(x)
        for chunk in (1 << 20, 4 << 20, samplug.ATTENTION_CHUNK_BYTES):  # several bands, one band
            monkeypatch.setattr(samplug, "ATTENTION_CHUNK_BYTES", chunk)
            assert torch.equal(samplug.chunked_attention_forward(attn, x), stock)


def test_chunked_attention_swapped_into_the_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    import copy

    torch.manual_seed(1)
    stock = samplug.build_sam_from_config(MICRO).eval()
    for block in stock.image_encoder.blocks:
        torch.nn.init.normal_(block.attn.rel_pos_h, std=0.5)
        torch.nn.init.normal_(block.attn.rel_pos_w, std=0.5)
    model = copy.deepcopy(stock)
    assert samplug.chunk_encoder_attention(model) == len(stock.image_encoder.blocks)
    assert samplug.chunk_encoder_attention(model) == 0  # once only
    # the global block of MICRO is 8 x 8 tokens, 2 heads: two query rows per band
    monkeypatch.setattr(samplug, "ATTENTION_CHUNK_BYTES", 2 * 2 * 8 * 64 * 4)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        # tiny matrices (head width 8) take other matmul kernels: equal to float rounding
        torch.testing.assert_close(model.image_encoder(x), stock.image_encoder(x), atol=1e-5, rtol=1e-5)


def test_session_model_keeps_its_state_dict_keys(micro_checkpoint: Path) -> None:
    """The faster attention changes no module: checkpoints saved from a session still load."""
    session = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    fresh = samplug.build_sam_from_config(MICRO)
    assert set(session.model.state_dict()) == set(fresh.state_dict())


def test_boxes_decoded_in_chunks_match_one_call(micro_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    session.set_image(_image())
    boxes = [[30, 20, 80, 60], [5, 5, 50, 40], [60, 10, 118, 88], [0, 0, 119, 89], [40, 30, 70, 50]]
    one_call, iou_one = session.predict_boxes(boxes)
    calls = []
    decode = session._decode_low_res
    monkeypatch.setattr(session, "_decode_low_res", lambda *a, **k: calls.append(len(a[2])) or decode(*a, **k))
    monkeypatch.setattr(samplug, "DECODER_CHUNK_BYTES", 2 * 4 * 120 * 90)  # two boxes per call
    chunked, iou_chunked = session.predict_boxes(boxes)
    assert calls == [2, 2, 1]
    assert chunked.shape == one_call.shape == (5, 90, 120)
    assert (chunked != one_call).sum() <= 5  # float rounding at the threshold, at most
    np.testing.assert_allclose(iou_chunked, iou_one, atol=1e-5)


def test_a_pickle_given_as_checkpoint_is_refused_unexecuted(tmp_path: Path) -> None:
    """weights_only: the hostile file's code (creating the marker) never runs; the error says why."""
    from tests.conftest import save_planted_pickle

    marker = tmp_path / "pwned"
    evil = save_planted_pickle(tmp_path / "evil.pth", marker)
    with pytest.raises(MissingWeightsError, match=r"evil.pth: refused to load: it holds Python objects \(io.open\)") as info:
        samplug.SamAutolabeler({"checkpoint": str(evil)}).setup()
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_an_official_name_must_be_the_official_file(
    micro_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real (tiny, random) state dict under the vit_b file name: refused from the models folder,
    loaded when given by path."""
    import shutil

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(micro_checkpoint, models / "sam_vit_b_01ec64.pth")
    monkeypatch.setenv("LABELER_MODELS", str(models))
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match="does not match the official sha256"):
        samplug.SamAutolabeler({"model_type": "vit_b"}).setup()
    plugin = samplug.SamAutolabeler({"checkpoint": str(models / "sam_vit_b_01ec64.pth")})
    plugin.setup()
    assert plugin.session is not None and plugin.session.model_id.startswith("sample_tiny:")


# -- the other SAM architectures (MobileSAM, SAM 2.1), random weights, the plugin's real path ----
def _save_official_layout(kind: str, folder: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random model of ``kind`` saved under its official file name, in the official layout
    (MobileSAM: the state dict; SAM 2: the state dict under "model")."""
    torch.manual_seed(0)
    state = samplug.build_sam(kind).state_dict()
    path = folder / samplug.CHECKPOINTS[kind]
    torch.save(state if kind == "mobile_sam" else {"model": state}, path)
    return path, state


@pytest.mark.parametrize(
    "kind",
    [
        "mobile_sam",
        "sam2.1_t",
        pytest.param("sam2.1_s", marks=pytest.mark.slow),
        pytest.param("sam2.1_b", marks=pytest.mark.slow),
        pytest.param("sam2.1_l", marks=pytest.mark.slow),
    ],
)
def test_each_architecture_runs_through_the_plugin(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by its official name in the models folder, loaded as a state dict, encoded once,
    every box decoded: the same options, outputs and provenance as segment-anything's SAM."""
    from labeler.weights import file_sha256

    models = tmp_path / "models"
    models.mkdir()
    path, state = _save_official_layout(kind, models)
    monkeypatch.setenv("LABELER_MODELS", str(models))
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    suggested = Shape(
        label="box", points=[(28, 18), (82, 62)], shape_type="rectangle",
        labeler=ShapeMeta(score=0.7, review="suggested", source=Source(plugin="yolo")),
    )
    prev = Predictions(xyxy=[[5, 5, 40, 40]], class_name=["star"], confidence=[0.4])
    plugin = samplug.SamAutolabeler({"model_type": kind, "min_area": 0, "device": "cpu", "overlap_drop": 1.0})
    src = plugin.source()
    assert (src.plugin, src.model, src.model_version) == ("sam", path.name, file_sha256(path)[:12])
    (pred,) = plugin.predict([_sample(tmp_path, [suggested], prev)])
    session = plugin.session
    assert session is not None and session.model_id.startswith(f"{kind}:")
    assert session.cache.misses == 1  # one encoding for both boxes
    loaded = session.model.state_dict()
    # (MobileSAM's encoder convolutions are folded with their batch norms: other keys.)
    same = [k for k in state if k in loaded and not k.startswith("image_encoder.")][:20]
    assert len(same) == 20 and all(torch.equal(loaded[k].cpu(), state[k]) for k in same)
    assert pred.polygons is not None and len(pred.polygons) == len(pred)
    assert set(pred.class_name) <= {"box", "star"}
    masks, iou = session.predict_boxes([[30, 20, 80, 60], [5, 5, 40, 40]])
    assert masks.shape == (2, 90, 120) and masks.dtype == bool and iou.shape == (2,)
    mask, score = session.predict(points=[(50, 40), (5, 5)], labels=[1, 0], box=(30, 20, 80, 60), refine=True)
    assert mask.shape == (90, 120) and isinstance(score, float)
    # The type is read back from the file's keys alone.
    assert samplug.load_sam(path)[1] == kind


@pytest.mark.slow
def test_vit_b_runs_through_the_plugin(tmp_path: Path) -> None:
    """segment-anything's own full-size architecture (random weights, its official layout),
    by path: the type is read from the encoder width."""
    torch.manual_seed(0)
    state = samplug.build_sam("vit_b").state_dict()
    path = tmp_path / "my_vit_b.pth"
    torch.save(state, path)
    del state
    plugin = samplug.SamAutolabeler({"checkpoint": str(path), "min_area": 0, "device": "cpu"})
    rect = Shape(label="box", points=[(30, 20), (80, 60)], shape_type="rectangle")
    (pred,) = plugin.predict([_sample(tmp_path, [rect])])
    assert plugin.session is not None and plugin.session.model_id.startswith("vit_b:")
    assert plugin.session.multimask_single_click
    assert pred.polygons is not None and len(pred.polygons) == len(pred) and set(pred.class_name) <= {"box"}


def test_a_checkpoint_of_another_type_is_named(tmp_path: Path) -> None:
    path, _ = _save_official_layout("mobile_sam", tmp_path)
    with pytest.raises(UsageError, match="is a mobile_sam checkpoint, not sam2.1_t: use -o model_type mobile_sam"):
        samplug.load_sam(path, "sam2.1_t")


@pytest.mark.slow
def test_bf16_runs_for_mobile_sam_and_sam2(tmp_path: Path) -> None:
    for kind in ("mobile_sam", "sam2.1_t"):
        torch.manual_seed(0)
        model = samplug.build_sam(kind)
        fp32 = samplug.SamSession(model, device="cpu").encode(np.asarray(_image())).features
        bf16 = samplug.SamSession(samplug.build_sam(kind).eval(), device="cpu", precision="bf16")
        bf16.model.load_state_dict(model.state_dict())
        bf16.model.image_encoder.to(torch.bfloat16).eval()
        got = bf16.encode(np.asarray(_image())).features
        a = fp32["image_embed"] if isinstance(fp32, dict) else fp32
        b = got["image_embed"] if isinstance(got, dict) else got
        assert a.dtype == b.dtype == torch.float32 and a.shape == b.shape
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.95


def test_official_new_model_missing_offline_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LABELER_MODELS", raising=False)
    monkeypatch.setenv("LABELER_OFFLINE", "1")
    for kind in ("mobile_sam", "sam2.1_l"):
        with pytest.raises(MissingWeightsError) as info:
            samplug.SamAutolabeler({"model_type": kind}).setup()
        msg = str(info.value)
        assert "\n" not in msg and samplug.CHECKPOINTS[kind] in msg
        assert f"https://github.com/ultralytics/assets/releases/download/v8.4.0/{samplug.CHECKPOINTS[kind]}" in msg


def _counting_encoder(session: samplug.SamSession) -> list[int]:
    calls: list[int] = []
    session.model.image_encoder.register_forward_hook(lambda mod, args, out: calls.append(len(args[0])))
    return calls


def test_a_batch_is_one_encoder_forward_with_the_same_features(micro_checkpoint: Path, tmp_path: Path) -> None:
    """-o batch N: the images of a batch that have prompts go through the encoder together
    (one forward), and give the features each would get alone."""
    plugin = samplug.SamAutolabeler({"checkpoint": str(micro_checkpoint), "batch": 3, "min_area": 0, "device": "cpu"})
    plugin.setup()
    assert plugin.session is not None and plugin.session.cache.maxsize >= 3
    calls = _counting_encoder(plugin.session)
    rect = Shape(label="box", points=[(30, 20), (80, 60)], shape_type="rectangle")
    other = _sample(tmp_path, [rect])
    other.image = _image(100, 70)
    batch = [_sample(tmp_path, [rect]), _sample(tmp_path), other]  # the middle one has no prompt
    preds = plugin.predict(batch)
    assert calls == [2] and len(preds) == 3 and len(preds[1]) == 0
    alone = samplug.SamSession.from_checkpoint(micro_checkpoint, device="cpu")
    for img in (batch[0].image, other.image):
        arr = np.asarray(img)
        together = plugin.session.cache.get((plugin.session.model_id, samplug.image_key(arr)))
        assert together is not None
        torch.testing.assert_close(together.features, alone.encode(arr).features, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mobile_sam", "sam2.1_t"])
def test_batched_encoding_of_mobile_sam_and_sam2(kind: str) -> None:
    torch.manual_seed(0)
    session = samplug.SamSession(samplug.build_sam(kind), device="cpu")
    a, b = np.asarray(_image()), np.asarray(_image(100, 70))
    together = session.encode_many([a, b])
    for arr, emb in zip((a, b), together, strict=True):
        alone = session.encode(arr)
        assert emb.original_size == alone.original_size and emb.input_size == alone.input_size
        x, y = (emb.features, alone.features) if kind == "mobile_sam" else (emb.features["image_embed"], alone.features["image_embed"])
        torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-3)
        if kind != "mobile_sam":
            for f, g in zip(emb.features["high_res_feats"], alone.features["high_res_feats"], strict=True):
                torch.testing.assert_close(f, g, atol=1e-4, rtol=1e-3)


def test_decoder_threads_follow_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """"auto" (the GUI's): every thread on an idle CPU, one on a busy one, unless the OpenMP
    workers sleep when idle (then every thread: a busy core costs such a team little)."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(samplug.os, "getloadavg", lambda: (0.4, 0.5, 0.6))
    assert samplug.decoder_threads_now(2) == 2
    monkeypatch.setattr(samplug.os, "getloadavg", lambda: (2.3, 1.0, 1.0))
    assert samplug.decoder_threads_now(2) == 1
    assert samplug.decoder_threads_now(4) == 4
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert samplug.decoder_threads_now(2) == 2 and samplug.decoder_threads_now(4) == 4
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert samplug.decoder_threads_now(2) == 1
