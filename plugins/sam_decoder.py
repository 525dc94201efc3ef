"""A faster mask decoder for SAM and MobileSAM when one image gets many box prompts.

segment-anything's ``MaskDecoder.predict_masks`` (and ultralytics' copy of it, which MobileSAM
runs) copies the image embedding and its positional encoding once per prompt
(``repeat_interleave``), adds the dense prompt embedding to every copy, and runs the first
transformer layer on those copies. For box and point prompts without a mask input the dense
embedding is one learnt vector for every prompt, so until the first layer's image-to-token
attention writes into the image tokens they are the same for every prompt. :func:`predict_masks`
computes that part once (the token-to-image keys and values, the image-to-token queries, and
the positional encoding's projections of the later layers: :func:`image_side`, which a session
computes when it encodes the image) and broadcasts it.

From there on the image tokens differ per prompt, but a prompt has few tokens (a box: 7), so
the later cross attentions never project the 4096 image tokens (:func:`_token_to_image`,
:func:`_image_to_token`): a head's scores ``q_h . (W_h x + b_h)`` are ``(q_h W_h) . x`` plus
the per-image positional term, and the image tokens' update is the softmax weights times the
tokens' values already through the output projection, ``keys + P^T M``, in one product (8
heads x 7 tokens = 56 vectors per prompt instead of 128 projection channels, and no (B, 4096,
C) sums with the positional encoding); more prompt tokens than that (many clicks) take the
reference's layers (their attentions on torch's fused kernel, :func:`attention_forward`).
The masks are upscaled channels-last (:func:`upscale_masks`: the two transposed convolutions
as matrix products on the tokens, no layout conversions, a band of token rows at a time), and
:func:`forward` upscales only the masks it returns (a box's one, not four). 15 boxes on one
image (3 calls of 5) take about 0.4 CPU s on one thread instead of the reference's 1.5-1.8,
a click about 40 ms instead of 130 (bench/README.md, "decoder").

The numbers are the reference's to float rounding (the same sums in another order, in other
matrix shapes); a mask input, a batch of images, or a decoder of another layout (SAM 2) takes
the reference path. Tested against it in ``tests/test_sam_decoder.py``.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_BLOCK = ("self_attn", "norm1", "cross_attn_token_to_image", "norm2", "mlp", "norm3",
          "cross_attn_image_to_token", "norm4", "skip_first_layer_pe")
_ATTN = ("q_proj", "k_proj", "v_proj", "out_proj", "num_heads")


def _is_stock_decoder(decoder: Any) -> bool:
    """Whether ``decoder`` has the layout of segment-anything's ``MaskDecoder`` (two-way
    transformer of attention blocks), which :func:`predict_masks` relies on."""
    if hasattr(decoder, "use_high_res_features") or hasattr(decoder, "pred_obj_scores"):
        return False  # SAM 2's decoder: another predict_masks
    transformer = getattr(decoder, "transformer", None)
    layers = getattr(transformer, "layers", None)
    if not layers or not hasattr(transformer, "final_attn_token_to_image"):
        return False
    if not all(hasattr(decoder, a) for a in ("iou_token", "mask_tokens", "num_mask_tokens", "output_upscaling",
                                              "output_hypernetworks_mlps", "iou_prediction_head")):
        return False
    first = layers[0]
    return (all(hasattr(first, a) for a in _BLOCK)
            and all(hasattr(getattr(first, a), p) for a in ("cross_attn_token_to_image", "cross_attn_image_to_token")
                    for p in _ATTN))


def heads_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d)) v`` for (B, heads, T, d) heads (any strides; a batch of 1
    broadcasts) on torch's fused kernel: scores, softmax and the value product a tile at a time
    (where the image attends to a prompt's few tokens, a softmax over rows that short on its own
    is slow)."""
    import torch.nn.functional as F  # noqa: N812

    b = max(q.shape[0], k.shape[0])
    return F.scaled_dot_product_attention(q.expand(b, -1, -1, -1), k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1))


def attention_forward(self: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The decoder's ``Attention.forward`` through :func:`heads_attention` (no transposed copies
    of the heads' inputs)."""
    q, k, v = self.q_proj(q), self.k_proj(k), self.v_proj(v)
    heads = self.num_heads
    b, tq, ci = q.shape
    d = ci // heads
    out = heads_attention(
        q.view(b, tq, heads, d).transpose(1, 2),
        k.view(k.shape[0], k.shape[1], heads, d).transpose(1, 2),
        v.view(v.shape[0], v.shape[1], heads, d).transpose(1, 2),
    )
    return self.out_proj(out.transpose(1, 2).reshape(b, tq, ci))


@dataclass
class ImageSide:
    """What :func:`predict_masks` computes from the image alone, before any prompt: the image
    tokens (embedding plus the no-mask dense embedding) and the first layer's projections of
    them (the token-to-image keys and values, the image-to-token queries). The same for every
    box or point prompt on that image, so a session computes it once, when the image is
    encoded (:func:`image_side`), and every click skips it."""

    embeddings: torch.Tensor  # the image embedding it was computed from (matched by identity)
    pe: torch.Tensor  # the positional encoding it was computed with (identity)
    dense: torch.Tensor  # the no-mask dense embedding (an expanded view of its weight)
    keys: torch.Tensor  # (1, HW, C)
    key_pe: torch.Tensor  # (1, HW, C): the positional encoding, tokens-major (PositionalSide's)
    kh: torch.Tensor  # (heads, HW, d): token-to-image keys
    vh: torch.Tensor  # (heads, HW, d): token-to-image values
    qih: torch.Tensor  # (heads, HW, d): image-to-token queries
    #: per later layer, the positional encoding's token-to-image key and image-to-token query
    #: projections (bias included), per head and transposed, (heads, d, HW); then the final
    #: attention's key projection (see :func:`_token_to_image`); :class:`PositionalSide`'s,
    #: shared by every image
    pe_k: list[torch.Tensor]
    pe_q: list[torch.Tensor]
    pe_k_final: torch.Tensor


def image_side(decoder: Any, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
               dense: torch.Tensor) -> ImageSide:
    """The :class:`ImageSide` of one image (``image_embeddings`` (1, C, h, w); ``dense`` the
    prompt encoder's no-mask dense embedding, or any dense embedding shared by every prompt)."""
    block = decoder.transformer.layers[0]
    # tokens-major (a channels-first view read against (B, HW, C) tensors is slow)
    keys = (image_embeddings + dense[:1]).flatten(2).transpose(1, 2).contiguous()  # (1, HW, C)
    pe = positional_side(decoder, image_pe)
    keys_pe = (keys + pe.key_pe)[0]  # (HW, C)
    hw = keys.shape[1]
    a = block.cross_attn_token_to_image
    heads = a.num_heads
    kh = a.k_proj(keys_pe)
    d = kh.shape[-1] // heads
    kh = kh.reshape(hw, heads, d).transpose(0, 1)
    vh = a.v_proj(keys[0]).reshape(hw, heads, d).transpose(0, 1)
    a = block.cross_attn_image_to_token
    qi = a.q_proj(keys_pe)  # (HW, Ci)
    qih = qi.reshape(hw, a.num_heads, qi.shape[-1] // a.num_heads).transpose(0, 1)
    return ImageSide(image_embeddings, image_pe, dense, keys, pe.key_pe, kh, vh, qih, pe.pe_k, pe.pe_q, pe.pe_k_final)


@dataclass
class PositionalSide:
    """The part of :class:`ImageSide` that depends on the positional encoding and the weights
    alone, the same for every image: computed once per decoder (:func:`positional_side`)."""

    image_pe: torch.Tensor  # what it was computed from (matched by identity)
    weights: tuple[tuple[int, int], ...]  # (data pointer, version) of the projections used
    key_pe: torch.Tensor  # (1, HW, C): the positional encoding, tokens-major
    pe_k: list[torch.Tensor]
    pe_q: list[torch.Tensor]
    pe_k_final: torch.Tensor


def positional_side(decoder: Any, image_pe: torch.Tensor) -> PositionalSide:
    """The decoder's :class:`PositionalSide` for ``image_pe``: kept on the decoder and computed
    again only for another positional encoding tensor or changed projection weights (so that
    every cached embedding does not carry its own copy)."""
    layers = decoder.transformer.layers[1:]
    final = decoder.transformer.final_attn_token_to_image
    projs = ([b.cross_attn_token_to_image.k_proj for b in layers] + [b.cross_attn_image_to_token.q_proj for b in layers]
             + [final.k_proj])
    weights = tuple((t.data_ptr(), t._version) for p in projs for t in (p.weight, p.bias))
    cached = getattr(decoder, "_labeler_pe", None)
    if cached is not None and cached.image_pe is image_pe and cached.weights == weights:
        return cached
    # tokens-major (a channels-first view read against (B, HW, C) tensors is slow)
    key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()
    pe_k = [_pe_heads(b.cross_attn_token_to_image, b.cross_attn_token_to_image.k_proj, key_pe) for b in layers]
    pe_q = [_pe_heads(b.cross_attn_image_to_token, b.cross_attn_image_to_token.q_proj, key_pe) for b in layers]
    side = PositionalSide(image_pe, weights, key_pe, pe_k, pe_q, _pe_heads(final, final.k_proj, key_pe))
    decoder._labeler_pe = side
    return side


def _pe_heads(attn: Any, proj: Any, key_pe: torch.Tensor) -> torch.Tensor:
    """``proj(key_pe)`` (the projection of the image's positional encoding, bias included) per
    head of ``attn`` and transposed: (heads, d, HW), what a prompt's queries or keys multiply."""
    p = proj(key_pe[0])  # (HW, Ci)
    return p.t().reshape(attn.num_heads, -1, p.shape[0]).contiguous()


def _side_matches(side: ImageSide | None, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                  dense: torch.Tensor) -> bool:
    """Whether ``side`` was computed from these very tensors (the dense embedding: the same
    expanded weight, i.e. no mask input)."""
    return (side is not None and side.embeddings is image_embeddings and side.pe is image_pe
            and dense.stride()[-2:] == (0, 0) and side.dense.stride()[-2:] == (0, 0)
            and dense.data_ptr() == side.dense.data_ptr() and dense.shape[1:] == side.dense.shape[1:])


def _heads_first(x: torch.Tensor, b: int, n: int, heads: int) -> torch.Tensor:
    """(B, N, heads * d) -> (heads, B * N, d), a small copy of a prompt's tokens."""
    return x.view(b, n, heads, -1).permute(2, 0, 1, 3).reshape(heads, b * n, -1)


def _batch_first(x: torch.Tensor, b: int, n: int) -> torch.Tensor:
    """(heads, B * N, C) -> (B, heads * N, C), rows (head, token) of each prompt."""
    heads, _, c = x.shape
    return x.view(heads, b, n, c).transpose(0, 1).reshape(b, heads * n, c)


def _scaled_heads(proj: Any, x: torch.Tensor, heads: int) -> torch.Tensor:
    """``proj(x)`` of a prompt's tokens ``x`` (B, N, C) per head, (heads, B * N, d), scaled by
    ``1 / sqrt(d)``: the side of the attention scores that meets the image tokens."""
    b, n, _ = x.shape
    t = _heads_first(proj(x), b, n, heads)
    return t * (1.0 / math.sqrt(t.shape[-1]))


def low_rank_fits(attn: Any, n: int) -> bool:
    """Whether :func:`_token_to_image` / :func:`_image_to_token` cost less than projecting the
    image tokens for ``n`` prompt tokens: the image tokens then meet ``heads * n`` vectors of
    width C instead of the projections' ``Ci`` (SAM: 8 heads x 7 tokens of a box = 56 < 128)."""
    return attn.num_heads * n <= attn.q_proj.out_features


def _token_to_image(attn: Any, q: torch.Tensor, keys: torch.Tensor, pe_k: torch.Tensor) -> torch.Tensor:
    """``attn(q=q, k=keys + pe, v=keys)`` for a prompt's few tokens ``q`` (B, N, C) over its own
    image tokens ``keys`` (B, HW, C), without the (B, HW, Ci) key and value projections: each
    head's scores ``q_h . (Wk_h x + bk_h)`` are ``(q_h Wk_h) . keys + q_h . pe_k`` (``pe_k``:
    the positional encoding's projection, per image), and as every row of the softmax sums to
    one, its value product is ``(P keys) Wv_h^T + bv_h``. The same sums as the reference in
    another order (float rounding)."""
    import torch

    b, n, c = q.shape
    heads = attn.num_heads
    qt = _scaled_heads(attn.q_proj, q, heads)  # (heads, B*N, d)
    d = qt.shape[-1]
    hw = keys.shape[1]
    a = _batch_first(torch.bmm(qt, attn.k_proj.weight.view(heads, d, c)), b, n)  # (B, heads*N, C)
    s = torch.bmm(a, keys.transpose(1, 2))  # (B, heads*N, HW)
    s.view(b, heads, n, hw).add_(torch.bmm(qt, pe_k).view(heads, b, n, hw).transpose(0, 1))
    p = torch.softmax(s, dim=-1)
    r = torch.bmm(p, keys)  # (B, heads*N, C): each row a weighted mean of the image tokens
    r = r.view(b, heads, n, c).transpose(0, 1).reshape(heads, b * n, c)
    v = attn.v_proj
    out = torch.baddbmm(v.bias.view(heads, 1, d), r, v.weight.view(heads, d, c).transpose(1, 2))  # (heads, B*N, d)
    return attn.out_proj(out.view(heads, b, n, d).permute(1, 2, 0, 3).reshape(b, n, heads * d))


def _image_to_token(attn: Any, keys: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                    pe_q: torch.Tensor | None = None, qih: torch.Tensor | None = None,
                    in_place: bool = False) -> torch.Tensor:
    """``keys + attn(q=keys + pe, k=k, v=v)``: the image tokens ``keys`` (B or 1, HW, C) attend
    to a prompt's few tokens (``k``, ``v``: (B, N, C)) without the (B, HW, Ci) query projection,
    the attention output or the output projection of it: the scores of a head are
    ``(k_h Wq_h) . keys + k_h . pe_q`` (``pe_q`` the positional encoding's query projection, or
    ``qih`` the whole shared query projection when ``keys`` is the image's own, one for all),
    and the output is the softmax weights (over the N tokens) times each token's value already
    through its head's block of the output projection: ``keys + P^T M`` in one product (the
    output bias rides on the first head's rows, whose weights sum to one); into ``keys`` itself
    with ``in_place`` (tokens the caller owns and no longer needs)."""
    import torch

    b, n, c = k.shape
    heads = attn.num_heads
    kt = _scaled_heads(attn.k_proj, k, heads)  # (heads, B*N, d)
    d = kt.shape[-1]
    hw = keys.shape[1]
    if qih is not None:  # (heads, HW, d): the shared image's queries
        s = torch.bmm(kt, qih.transpose(1, 2)).view(heads, b, n, hw).transpose(0, 1)  # (B, heads, N, HW)
    else:
        a = _batch_first(torch.bmm(kt, attn.q_proj.weight.view(heads, d, c)), b, n)  # (B, heads*N, C)
        s = torch.bmm(a, keys.transpose(1, 2)).view(b, heads, n, hw)
        s.add_(torch.bmm(kt, pe_q).view(heads, b, n, hw).transpose(0, 1))
    s = torch.softmax(s, dim=2).reshape(b, heads * n, hw)  # over the prompt's tokens
    vt = _heads_first(attn.v_proj(v), b, n, heads)  # (heads, B*N, d)
    o = attn.out_proj
    m = torch.bmm(vt, o.weight.view(c, heads, d).permute(1, 2, 0))  # (heads, B*N, C)
    m[0].add_(o.bias)
    if in_place:
        return keys.baddbmm_(s.transpose(1, 2), _batch_first(m, b, n))
    # (not baddbmm: it copies the broadcast image tokens into its output first, a slow copy)
    return torch.bmm(s.transpose(1, 2), _batch_first(m, b, n)).add_(keys)  # (B, HW, C)


def _self_attention(block: Any, queries: torch.Tensor, query_pe: torch.Tensor) -> torch.Tensor:
    """The block's self-attention of the prompt tokens (and norm1)."""
    if block.skip_first_layer_pe:
        queries = block.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = queries + block.self_attn(q=q, k=q, v=queries)
    return block.norm1(queries)


def _layer_low_rank(block: Any, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor,
                    pe_k: torch.Tensor, pe_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``TwoWayAttentionBlock.forward`` with both cross attentions in their low-rank forms
    (:func:`_token_to_image`, :func:`_image_to_token`): no (B, HW, Ci) projections."""
    queries = _self_attention(block, queries, query_pe)
    queries = block.norm2(queries + _token_to_image(block.cross_attn_token_to_image, queries + query_pe, keys, pe_k))
    queries = block.norm3(queries + block.mlp(queries))
    keys = block.norm4(_image_to_token(block.cross_attn_image_to_token, keys, queries + query_pe, queries, pe_q=pe_q,
                                       in_place=True))  # keys: the previous layer's output
    return queries, keys


def _first_layer_shared(block: Any, queries: torch.Tensor, query_pe: torch.Tensor,
                        side: ImageSide) -> tuple[torch.Tensor, torch.Tensor]:
    """``TwoWayAttentionBlock.forward`` for B prompts whose image tokens ``side.keys`` (1, HW, C)
    are the same: the projections of the image tokens come computed once (``side``)."""
    import torch

    queries = _self_attention(block, queries, query_pe)
    b, n, _ = queries.shape
    keys = side.keys
    hw = keys.shape[1]

    # Tokens attend to the image: the image's keys and values once, every prompt's queries.
    a = block.cross_attn_token_to_image
    heads = a.num_heads
    q = a.q_proj(queries + query_pe)  # (B, N, Ci)
    d = q.shape[-1] // heads
    qh = q.reshape(b * n, heads, d).transpose(0, 1)  # (heads, B*N, d)
    attn = torch.softmax((qh @ side.kh.transpose(1, 2)) / math.sqrt(d), dim=-1)  # (heads, B*N, HW)
    out = (attn @ side.vh).transpose(0, 1).reshape(b, n, heads * d)
    queries = block.norm2(queries + a.out_proj(out))
    queries = block.norm3(queries + block.mlp(queries))

    # The image attends to the tokens: the image's queries once, every prompt's keys and values.
    a = block.cross_attn_image_to_token
    if low_rank_fits(a, n):
        return queries, block.norm4(_image_to_token(a, keys, queries + query_pe, queries, qih=side.qih))
    heads = a.num_heads
    qih = side.qih.unsqueeze(0)  # (1, heads, HW, d), broadcast over the prompts
    d = qih.shape[-1]
    kt = a.k_proj(queries + query_pe).view(b, n, heads, d).transpose(1, 2)  # (B, heads, N, d)
    vt = a.v_proj(queries).view(b, n, heads, d).transpose(1, 2)
    out = heads_attention(qih, kt, vt).transpose(1, 2).reshape(b, hw, heads * d)
    keys = block.norm4(keys + a.out_proj(out))  # (B, HW, C) from here on
    return queries, keys


def _is_stock_upscaling(seq: Any) -> bool:
    """Whether ``seq`` is SAM's output upscaling: two 2x2 stride-2 transposed convolutions with
    a channel LayerNorm and activations (``ConvT, LayerNorm2d, act, ConvT, act``)."""
    import torch

    if not isinstance(seq, torch.nn.Sequential) or len(seq) != 5:
        return False
    convs = (seq[0], seq[3])
    return (all(isinstance(c, torch.nn.ConvTranspose2d) and c.kernel_size == (2, 2) and c.stride == (2, 2)
                and c.padding == (0, 0) and c.output_padding == (0, 0) and c.groups == 1 and c.dilation == (1, 1)
                and c.bias is not None for c in convs)
            and all(hasattr(seq[1], a) for a in ("weight", "bias", "eps")))


def _up2_layer(conv: Any) -> types.SimpleNamespace:
    """A 2x2 stride-2 ``ConvTranspose2d`` as a linear layer on channels-last pixels: weight
    (4 Cout, Cin) with rows (a, b, co), bias repeated (what :func:`_up2` multiplies)."""
    cin, cout = conv.weight.shape[:2]
    weight = conv.weight.permute(2, 3, 1, 0).reshape(4 * cout, cin)
    return types.SimpleNamespace(weight=weight, bias=conv.bias.repeat(4), cout=cout)


def _up2(x: torch.Tensor, layer: types.SimpleNamespace, act: Any = None) -> torch.Tensor:
    """A 2x2 stride-2 ``ConvTranspose2d`` (as :func:`_up2_layer`) on channels-last pixels
    (..., Cin) as one matrix product: each input pixel gives its 2 x 2 output pixels, (..., 2,
    2, Cout); then ``act`` (an exact GELU is applied by oneDNN as the product is written, on a
    CPU)."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from labeler_plugins.sam_encoder import linear

    if act is None:
        y = F.linear(x, layer.weight, layer.bias)
    elif type(act) is torch.nn.GELU and act.approximate == "none":
        y = linear(x, layer, gelu=True, fp32_gelu=True)
    else:
        y = act(F.linear(x, layer.weight, layer.bias))
    return y.unflatten(-1, (2, 2, layer.cout))


#: Image-token rows per band of :func:`upscale_masks` (of SAM's 64): a band's upscaled pixels
#: (32 x 64 tokens x 4 pixels x 64 channels = 2 MB, then 4 MB) are used while in the CPU's
#: caches.
UPSCALE_ROWS = 32


def upscale_masks(upscaling: Any, keys: torch.Tensor, h: int, w: int, hyper_in: torch.Tensor) -> torch.Tensor:
    """``(hyper_in @ upscaling(keys as B x C x h x w)).view(B, T, 4h, 4w)``, the decoder's
    masks, computed channels-last: the transposed convolutions as matrix products on the image
    tokens as they come out of the transformer (no transposed copies, none of oneDNN's layout
    conversions), the channel LayerNorm as ``layer_norm`` over the last axis, and the mask
    products taken before the pixel shuffles (every step between is per pixel, so the pixels
    stay in the order the products write them, and only the T mask channels are moved). One
    prompt and :data:`UPSCALE_ROWS` token rows at a time (every step is per pixel): the upscaled
    pixels, 16x the tokens, are not written to memory and read back between the steps."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    b, t = keys.shape[0], hyper_in.shape[1]
    norm = upscaling[1]
    up1, up2 = _up2_layer(upscaling[0]), _up2_layer(upscaling[3])
    k4 = keys.reshape(b, h, w, -1)
    m = keys.new_empty(b, h, w, 16, t)  # pixel (4y + 2a1 + a2, 4x + 2b1 + b2) at [y, x, (a1, b1, a2, b2)]
    for i in range(b):
        hyper_t = hyper_in[i].t()
        for r in range(0, h, UPSCALE_ROWS):
            x = _up2(k4[i, r : r + UPSCALE_ROWS], up1)  # (rows, w, 2, 2, C1): pixel (2y + a1, 2x + b1)
            x = upscaling[2](F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps))
            x = _up2(x, up2, upscaling[4])  # (rows, w, 2, 2, 2, 2, C2)
            band = m[i, r : r + UPSCALE_ROWS]
            torch.mm(x.reshape(-1, x.shape[-1]), hyper_t, out=band.view(-1, t))
    m = m.view(b, h, w, 2, 2, 2, 2, t).permute(0, 7, 1, 3, 5, 2, 4, 6)  # (B, T, h, a1, a2, w, b1, b2)
    return m.reshape(b, t, 4 * h, 4 * w)


def predict_masks(
    self: Any,
    image_embeddings: torch.Tensor,
    image_pe: torch.Tensor,
    sparse_prompt_embeddings: torch.Tensor,
    dense_prompt_embeddings: torch.Tensor,
    wanted: slice | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``MaskDecoder.predict_masks`` (same arguments, same results to float rounding) without
    per-prompt copies of the image embedding; falls back to the reference where the prompts'
    dense embeddings differ (a mask input) or several images come at once. With ``wanted`` (a
    slice of the mask tokens, what :func:`forward` keeps) only those masks are made (the IoU
    predictions stay all of them)."""
    import torch

    dense = dense_prompt_embeddings
    shared = image_embeddings.shape[0] == 1 and image_pe.shape[0] == 1 and (dense.shape[0] == 1 or dense.stride(0) == 0)
    if not shared:
        masks, iou = type(self).predict_masks(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense)
        return (masks if wanted is None else masks[:, wanted]), iou
    output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
    output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.shape[0], -1, -1)
    tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)
    b, n = tokens.shape[:2]
    _, c, h, w = image_embeddings.shape

    transformer = self.transformer
    side = getattr(self, "_labeler_side", None)  # computed when the image was encoded (SamSession)
    if not _side_matches(side, image_embeddings, image_pe, dense):
        side = image_side(self, image_embeddings, image_pe, dense)
    key_pe = side.key_pe
    final = transformer.final_attn_token_to_image
    queries, keys = _first_layer_shared(transformer.layers[0], tokens, tokens, side)
    if all(low_rank_fits(a, n) for layer in transformer.layers[1:]
           for a in (layer.cross_attn_token_to_image, layer.cross_attn_image_to_token)) and low_rank_fits(final, n):
        for layer, pe_k, pe_q in zip(transformer.layers[1:], side.pe_k, side.pe_q, strict=True):
            queries, keys = _layer_low_rank(layer, queries, keys, tokens, pe_k, pe_q)
        attn_out = _token_to_image(final, queries + tokens, keys, side.pe_k_final)
    else:  # many prompt tokens (points): the reference's layers
        for layer in transformer.layers[1:]:
            queries, keys = layer(queries=queries, keys=keys, query_pe=tokens, key_pe=key_pe)
        attn_out = final(q=queries + tokens, k=keys + key_pe, v=keys)
    hs = transformer.norm_final_attn(queries + attn_out)

    iou_token_out = hs[:, 0, :]
    picked = range(self.num_mask_tokens)[wanted or slice(None)]
    hyper_in = torch.stack([self.output_hypernetworks_mlps[i](hs[:, 1 + i, :]) for i in picked], dim=1)
    if self._labeler_upscale:
        masks = upscale_masks(self.output_upscaling, keys, h, w, hyper_in)
    else:
        upscaled = self.output_upscaling(keys.transpose(1, 2).reshape(b, c, h, w))
        _, c2, h2, w2 = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c2, h2 * w2)).view(b, -1, h2, w2)
    return masks, self.iou_prediction_head(iou_token_out)


def forward(
    self: Any,
    image_embeddings: torch.Tensor,
    image_pe: torch.Tensor,
    sparse_prompt_embeddings: torch.Tensor,
    dense_prompt_embeddings: torch.Tensor,
    multimask_output: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``MaskDecoder.forward``: the masks and IoU predictions of the candidates it keeps (the
    three multimask ones, or the single-mask one), of which :func:`predict_masks` upscales only
    those (a box's one mask instead of four)."""
    wanted = slice(1, None) if multimask_output else slice(0, 1)
    masks, iou = self.predict_masks(image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
                                    wanted=wanted)
    return masks, iou[:, wanted]


def install_fast_decoder(decoder: Any) -> bool:
    """Run ``decoder.predict_masks`` through :func:`predict_masks` (same module and weights).
    Returns whether it was installed: False for a decoder of another layout (SAM 2's) or one
    already changed."""
    if getattr(decoder, "_labeler_fast", False) or not _is_stock_decoder(decoder):
        return False
    decoder.predict_masks = types.MethodType(predict_masks, decoder)
    decoder.forward = types.MethodType(forward, decoder)
    decoder._labeler_upscale = _is_stock_upscaling(decoder.output_upscaling)  # decided once
    transformer = decoder.transformer
    for layer in transformer.layers[1:]:
        for name in ("cross_attn_token_to_image", "cross_attn_image_to_token"):
            attn = getattr(layer, name)
            attn.forward = types.MethodType(attention_forward, attn)
    final = transformer.final_attn_token_to_image
    final.forward = types.MethodType(attention_forward, final)
    decoder._labeler_fast = True
    return True
