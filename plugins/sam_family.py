"""The SAM models beyond segment-anything's own: MobileSAM and SAM 2 / 2.1 (tiny to large).

ultralytics 8.4 ships their architectures (``ultralytics.models.sam.build``); labeler builds
them from there and loads the checkpoint itself, as a plain state dict
(``torch.load(weights_only=True)``), instead of ultralytics' loader, which unpickles anything.
:class:`~labeler_plugins.sam.SamSession` runs them through the same encode-once,
decode-per-prompt path as segment-anything's SAM; this module holds what differs: which
builder makes each model type, how a state dict tells its type, and SAM 2's encoder output
and decoder call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Builder in ``ultralytics.models.sam.build`` of each model type, and its official file name
#: (as ultralytics names its release assets, resolved by :mod:`labeler.weights`).
ULTRALYTICS_TYPES: dict[str, tuple[str, str]] = {
    "mobile_sam": ("build_mobile_sam", "mobile_sam.pt"),
    "sam2.1_t": ("build_sam2_t", "sam2.1_t.pt"),
    "sam2.1_s": ("build_sam2_s", "sam2.1_s.pt"),
    "sam2.1_b": ("build_sam2_b", "sam2.1_b.pt"),
    "sam2.1_l": ("build_sam2_l", "sam2.1_l.pt"),
    "sam2_t": ("build_sam2_t", "sam2_t.pt"),
    "sam2_s": ("build_sam2_s", "sam2_s.pt"),
    "sam2_b": ("build_sam2_b", "sam2_b.pt"),
    "sam2_l": ("build_sam2_l", "sam2_l.pt"),
}

#: SAM 2 trunk (Hiera) width and block count of each size.
_SAM2_SIZES = {(96, 12): "t", (96, 16): "s", (112, 24): "b", (144, 48): "l"}


def is_sam2(model: Any) -> bool:
    """Whether ``model`` is a SAM 2 (its own prompt encoder and high-resolution decoder)."""
    return hasattr(model, "sam_mask_decoder")


def build(kind: str) -> Any:
    """A randomly initialised model of type ``kind`` (one of :data:`ULTRALYTICS_TYPES`)."""
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):  # ultralytics' logger binds the stdout of its import
        from ultralytics.models.sam import build as builders

    model = getattr(builders, ULTRALYTICS_TYPES[kind][0])(None)
    if kind.startswith("sam2.1"):
        _make_sam2_1(model)
    return model


def _make_sam2_1(model: Any) -> None:
    """Add SAM 2.1's extra parameters to a SAM 2 built without a checkpoint.

    ultralytics' builder makes the 2.1 variant only when the checkpoint path it loads (with its
    own full-pickle loader) contains "sam2.1"; labeler builds first and loads the state dict
    itself, so it sets the three 2.1 flags here as that builder does. They shape the video
    memory (object pointers), not single-image masks, but the state dict holds their weights.
    """
    import torch

    model.no_obj_embed_spatial = torch.nn.Parameter(torch.zeros(1, model.mem_dim))
    torch.nn.init.trunc_normal_(model.no_obj_embed_spatial, std=0.02)
    model.proj_tpos_enc_in_obj_ptrs = True
    model.obj_ptr_tpos_proj = torch.nn.Linear(model.hidden_dim, model.mem_dim)
    model.use_signed_tpos_enc_to_obj_ptrs = True


def detect_kind(state: dict[str, Any]) -> str | None:
    """The model type a state dict is for (None when it is none of :data:`ULTRALYTICS_TYPES`)."""
    if "image_encoder.patch_embed.seq.0.c.weight" in state:  # TinyViT
        return "mobile_sam"
    w = state.get("image_encoder.trunk.patch_embed.proj.weight")
    if w is None:
        return None
    blocks = {k.split(".")[3] for k in state if k.startswith("image_encoder.trunk.blocks.")}
    size = _SAM2_SIZES.get((int(w.shape[0]), len(blocks)))
    if size is None:
        return None
    return f"sam2.1_{size}" if "no_obj_embed_spatial" in state else f"sam2_{size}"


def input_size(model: Any) -> int:
    """The square input side of the image encoder (1024 for every official model)."""
    side = getattr(model, "image_size", None) or model.image_encoder.img_size
    return int(side)


def sam2_features(model: Any, x: torch.Tensor) -> dict[str, Any]:
    """SAM 2's image embedding and its two high-resolution feature maps for a batch of images.

    What ultralytics' ``SAM2Predictor.get_im_features`` computes, with the encoder's output
    taken back to float32 first (the encoder may run in bfloat16; the decoder does not).
    """
    out = model.image_encoder(x)
    fpn = [f.float() for f in out["backbone_fpn"]]
    pos = [p.float() for p in out["vision_pos_enc"]]
    # The decoder's projections of the two finest levels, done once per image (as forward_image).
    fpn[0] = model.sam_mask_decoder.conv_s0(fpn[0])
    fpn[1] = model.sam_mask_decoder.conv_s1(fpn[1])
    _, feats, _, sizes = model._prepare_backbone_features({"backbone_fpn": fpn, "vision_pos_enc": pos})
    if model.directly_add_no_mem_embed:
        feats[-1] = feats[-1] + model.no_mem_embed
    maps = [f.permute(1, 2, 0).reshape(len(x), -1, *s) for f, s in zip(feats, sizes, strict=True)]
    return {"image_embed": maps[-1], "high_res_feats": maps[:-1]}


def sam2_decode(
    model: Any,
    features: dict[str, Any],
    points: tuple[torch.Tensor, torch.Tensor] | None,
    boxes: torch.Tensor | None,
    mask_input: torch.Tensor | None,
    multimask: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM 2's prompt encoder and mask decoder: (low-res logits (N, K, 256, 256), IoU (N, K)).

    ``points`` are (coords (N, P, 2), labels (N, P)) and ``boxes`` (N, 4), both in encoder
    input pixels. SAM 2 takes a box as its two corners, labelled 2 and 3, before the points.
    """
    import torch

    coords = labels = None
    if points is not None:
        coords, labels = points[0], points[1].to(torch.int32)
    if boxes is not None:
        corners = boxes.reshape(-1, 2, 2)
        corner_labels = torch.tensor([[2, 3]], dtype=torch.int32, device=boxes.device).expand(len(corners), -1)
        if coords is not None and labels is not None:
            coords, labels = torch.cat([corners, coords], dim=1), torch.cat([corner_labels, labels], dim=1)
        else:
            coords, labels = corners, corner_labels
    sparse, dense = model.sam_prompt_encoder(
        points=None if coords is None else (coords, labels), boxes=None, masks=mask_input
    )
    n = 1 if coords is None else len(coords)
    low_res, iou, _, _ = model.sam_mask_decoder(
        image_embeddings=features["image_embed"],
        image_pe=model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
        repeat_image=n > 1,
        high_res_features=features["high_res_feats"],
    )
    return low_res, iou
