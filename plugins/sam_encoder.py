"""A faster forward for segment-anything's ViT image encoder (same modules, same weights).

segment-anything's ``Attention.forward`` builds every attention score map in full, adds the
decomposed relative-position terms to it in two more passes over memory, takes the softmax in a
fourth and multiplies by the values in a fifth. :func:`attention_heads` hands the attention to
torch's fused ``scaled_dot_product_attention`` (a flash-attention kernel on CPU: scores, softmax
and the value product a tile at a time, in cache) with the relative-position terms passed as its
additive ``attn_mask``. That mask, ``rel_h[q, ky] + rel_w[q, kx]``, is built a band of heads and
query rows at a time into one buffer (:data:`MASK_CHUNK_BYTES`), never for the whole 12 x 4096 x
4096 map of a global block. q, k and v are strided views of the qkv projection's output, and the
heads' outputs are written in the layout the output projection reads (no permute copies).

:func:`fast_block_forward` puts the windows back together before the output projection and runs
every linear layer through :func:`linear`: in bfloat16 on a CPU, one oneDNN call with the bias,
GELU and residual sum fused in. :func:`install_fast_encoder` puts it onto an encoder's blocks.

The numbers are those of the reference to float rounding (the fused kernel sums in another
order: fp32 outputs match to about 1e-6 relative, tested in ``tests/test_sam_encoder.py``),
on any device torch's attention kernel runs on (CPU, CUDA, MPS). Measurements: bench/README.md.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Bytes of relative-position mask built at once (one band of heads and query rows): under
#: glibc's 32 MB mmap threshold, so the buffer is reused heap, and the fastest measured.
MASK_CHUNK_BYTES = 16 << 20
#: The same on a GPU, where fewer, larger kernel launches pay.
MASK_CHUNK_BYTES_GPU = 512 << 20


#: Called before each linear layer and each attention band of the fast encoder, on the thread
#: that encodes, when set (``SamSession`` sets it to its ``between_layers`` for one encoding:
#: the GUI answers a click there). The fast blocks call few modules, so module hooks alone would
#: leave seconds between two such points in vit_b.
between_steps: ContextVar[Callable[[], None] | None] = ContextVar("between_steps", default=None)


def _between_steps() -> None:
    pause = between_steps.get()
    if pause is not None:
        pause()


@functools.cache
def _mkldnn_linear() -> bool:
    """Whether this torch has oneDNN's fused linear (``torch.ops.mkldnn._linear_pointwise``)."""
    import torch

    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 on this CPU (torch's check: AVX-512 BW/VL/DQ or AVX-NE-CONVERT
    on x86; AVX-512 BF16 and AMX make it fast).

    Without them oneDNN's fused bfloat16 ops refuse to run ("could not create a primitive
    descriptor"), so the bfloat16 forwards take torch's plain operations instead (emulated:
    slower than float32 on such a CPU; :class:`labeler_plugins.sam.SamSession` says so)."""
    import torch

    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def onednn_fuses(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether oneDNN's fused CPU op can take ``x`` and ``weight``: same dtype, CPU, no autograd
    (its ops have no backward), and, in bfloat16, a CPU with bfloat16 instructions."""
    import torch

    return (
        x.device.type == "cpu" and x.dtype == weight.dtype and not torch.is_grad_enabled()
        and (x.dtype != torch.bfloat16 or cpu_has_bf16())
    )


@functools.lru_cache(maxsize=8)
def _rel_pos_onehot(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(h + w, h * w) 0/1 matrix: ``[rel_h, rel_w] @ it`` is the mask ``rel_h[ky] + rel_w[kx]``."""
    import torch

    ky = torch.arange(h * w, device=device) // w
    kx = torch.arange(h * w, device=device) % w
    m = torch.zeros((h + w, h * w), dtype=dtype, device=device)
    m[ky, torch.arange(h * w, device=device)] = 1
    m[h + kx, torch.arange(h * w, device=device)] = 1
    return m


def rel_pos_terms(
    q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, h: int, w: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The decomposed relative-position terms of ``add_decomposed_rel_pos`` as two matmuls.

    ``q``: (B, heads, h * w, C) (any strides). Returns ``rel_h`` (B, heads, h, w, h) and
    ``rel_w`` (B, heads, h, w, w): the score of query (y, x) and key (ky, kx) gets
    ``rel_h[..., y, x, ky] + rel_w[..., y, x, kx]``.
    """
    from segment_anything.modeling.image_encoder import get_rel_pos

    b, heads, _, c = q.shape
    r_h = get_rel_pos(h, h, rel_pos_h).to(q.dtype)  # (h, kh, C)
    r_w = get_rel_pos(w, w, rel_pos_w).to(q.dtype)  # (w, kw, C)
    q5 = q.reshape(b, heads, h, w, c)
    rel_h = q5 @ r_h.transpose(1, 2)  # batched over the query row y: (.., y, x, C) @ (y, C, kh)
    rel_w = (q5.transpose(2, 3) @ r_w.transpose(1, 2)).transpose(2, 3)  # batched over the column x
    return rel_h, rel_w


def linear(
    x: torch.Tensor, layer: Any, gelu: bool = False, residual: torch.Tensor | None = None, fp32_gelu: bool = False
) -> torch.Tensor:
    """``layer(x)``, then the exact GELU (``gelu``), then ``+ residual``: in one oneDNN call for
    bfloat16 on CPU (bias, activation and sum applied as the matmul writes its output, about
    1.3x the speed of ``F.linear`` then separate passes), else as torch's separate operations.
    ``fp32_gelu``: a float32 linear with its GELU in one oneDNN call too (MobileSAM's MLPs: 32
    against 50 ms for 16384 x 128 -> 512 on one thread; the plain float32 matmul is MKL's)."""
    import torch
    import torch.nn.functional as F

    _between_steps()
    out_features = layer.weight.shape[0]
    dtypes = (torch.bfloat16, torch.float32) if fp32_gelu and gelu else (torch.bfloat16,)
    fused = x.dtype in dtypes and onednn_fuses(x, layer.weight) and _mkldnn_linear()
    if fused:
        x2 = x.reshape(-1, x.shape[-1])
        if residual is not None and not gelu:
            y = torch.ops.mkldnn._linear_pointwise.binary(
                x2, residual.reshape(-1, out_features), layer.weight, layer.bias, "add"
            )
        else:
            y = torch.ops.mkldnn._linear_pointwise(x2, layer.weight, layer.bias, "gelu" if gelu else "none", [], "none")
            if residual is not None:
                y += residual.reshape(-1, out_features)
        return y.view(*x.shape[:-1], out_features)
    y = F.linear(x, layer.weight, layer.bias)
    if gelu:
        y = F.gelu(y)
    if residual is not None:
        y += residual  # shortcut + y in the reference: the same sum
    return y


def attention_heads(self: Any, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``Attention.forward`` up to the output projection, on torch's fused
    attention kernel: (B, H, W, dim) -> (B, H, W, dim), the heads' outputs side by side.

    The relative-position terms go in as the additive mask, a band of heads and query rows at a
    time (:data:`MASK_CHUNK_BYTES`); the result is the same to float rounding.
    """
    import torch
    import torch.nn.functional as F

    b, h, w, _ = x.shape
    n, heads = h * w, self.num_heads
    qkv = linear(x, self.qkv).view(b, n, 3, heads, -1)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, n, C) views of qkv, no copy
    c = q.shape[-1]
    out = torch.empty((b, h, w, heads, c), dtype=q.dtype, device=q.device)
    out_rows = out.view(b, n, heads, c).transpose(1, 2)  # (B, heads, n, C), written per band
    if not self.use_rel_pos:
        out_rows.copy_(F.scaled_dot_product_attention(q, k, v, scale=self.scale))
        return out.view(b, h, w, heads * c)
    rel_h, rel_w = rel_pos_terms(q, self.rel_pos_h, self.rel_pos_w, h, w)
    # Bands of (heads, query rows) whose mask fits the budget: whole heads when they fit (the
    # kernel packs each head's keys and values once per call, so fewer heads per call beat
    # fewer query rows), else one head and as many image rows as fit.
    budget = MASK_CHUNK_BYTES if q.device.type == "cpu" else MASK_CHUNK_BYTES_GPU
    per_head = b * n * n * q.element_size()
    head_step = max(1, min(heads, budget // per_head))
    rows = h if head_step > 1 or per_head <= budget else max(1, budget // (b * w * n * q.element_size()))
    # One buffer for every band (out= operations, which autograd does not allow).
    grad = torch.is_grad_enabled() and (x.requires_grad or self.rel_pos_h.requires_grad)
    mask = None if grad else torch.empty(b * head_step * min(rows, h) * w * n, dtype=q.dtype, device=q.device)
    # In bfloat16 the mask is a matmul of the terms with a 0/1 matrix (exact products, one
    # rounding of the sum, as the add): oneDNN writes it much faster than a broadcast add, whose
    # innermost loop is only w long. In float32 the add is the faster of the two.
    onehot = _rel_pos_onehot(h, w, q.dtype, q.device) if q.dtype == torch.bfloat16 and not grad else None
    terms = torch.cat([rel_h, rel_w], dim=-1).view(b, heads, n, h + w) if onehot is not None else None
    for h0 in range(0, heads, head_step):
        h1 = min(heads, h0 + head_step)
        for r0 in range(0, h, rows):
            _between_steps()
            r1 = min(h, r0 + rows)
            shape = (b, h1 - h0, (r1 - r0) * w, n)
            m = mask[: b * (h1 - h0) * (r1 - r0) * w * n].view(shape) if mask is not None else None
            if terms is not None:
                m = torch.matmul(terms[:, h0:h1, r0 * w : r1 * w], onehot, out=m)
            else:
                rh, rw = rel_h[:, h0:h1, r0:r1, :, :, None], rel_w[:, h0:h1, r0:r1, :, None, :]
                m = (rh + rw).view(shape) if m is None else torch.add(rh, rw, out=m.view(rh.shape[:-1] + (w,))).view(shape)
            out_rows[:, h0:h1, r0 * w : r1 * w] = F.scaled_dot_product_attention(
                q[:, h0:h1, r0 * w : r1 * w], k[:, h0:h1], v[:, h0:h1], attn_mask=m, scale=self.scale
            )
    return out.view(b, h, w, heads * c)


def fast_attention_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``Attention.forward``: :func:`attention_heads`, then the projection."""
    return linear(attention_heads(self, x), self.proj)


def fast_block_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``Block.forward`` with :func:`attention_heads` and fused linears.

    Window blocks put the windows back together before the output projection (a per-token
    linear map, so the same numbers, on 4096 tokens instead of the 4900 of the padded windows),
    which lets the projection add the residual as it writes.
    """
    from segment_anything.modeling.image_encoder import window_partition, window_unpartition

    shortcut = x
    y = self.norm1(x)
    if self.window_size > 0:
        hw = (y.shape[1], y.shape[2])
        y, pad_hw = window_partition(y, self.window_size)
        y = window_unpartition(attention_heads(self.attn, y), self.window_size, pad_hw, hw)
    else:
        y = attention_heads(self.attn, y)
    x = linear(y, self.attn.proj, residual=shortcut)
    hidden = linear(self.norm2(x), self.mlp.lin1, gelu=True)
    return linear(hidden, self.mlp.lin2, residual=x)


def _is_stock_block(block: Any) -> bool:
    """Whether ``block`` has the layout of segment-anything's ViT ``Block`` (exact GELU MLP)."""
    import torch

    attn, mlp = getattr(block, "attn", None), getattr(block, "mlp", None)
    return (
        attn is not None and mlp is not None
        and all(hasattr(attn, a) for a in ("qkv", "proj", "num_heads", "scale", "use_rel_pos"))
        and all(hasattr(block, a) for a in ("norm1", "norm2", "window_size"))
        and isinstance(getattr(mlp, "lin1", None), torch.nn.Linear)
        and isinstance(getattr(mlp, "lin2", None), torch.nn.Linear)
        and type(getattr(mlp, "act", None)) is torch.nn.GELU and mlp.act.approximate == "none"
    )


def install_fast_encoder(encoder: Any) -> int:
    """Run the blocks of a segment-anything ``ImageEncoderViT`` through :func:`fast_block_forward`
    (same modules and weights; a block of another layout keeps its own forward and only its
    attention is replaced). Returns how many blocks were changed; a second call changes none."""
    changed = 0
    for block in getattr(encoder, "blocks", []):
        if getattr(block, "_labeler_fast", False):
            continue
        if _is_stock_block(block):
            block.forward = types.MethodType(fast_block_forward, block)
        elif all(hasattr(getattr(block, "attn", None), a) for a in ("qkv", "proj", "num_heads", "scale", "use_rel_pos")):
            block.attn.forward = types.MethodType(fast_attention_forward, block.attn)
        else:
            continue
        block._labeler_fast = True
        changed += 1
    return changed


def fuse_conv_bn(encoder: Any) -> int:
    """Fold every convolution + batch-norm pair of ``encoder`` (MobileSAM's TinyViT builds its
    convolutions as ``Conv2d_BN``: a ``Sequential`` of ``c`` and ``bn``) into one convolution,
    and keep the encoder's weights channels-last, the layout oneDNN's convolutions run fastest
    on. Inference only (the batch norm's running statistics become the convolution's weights);
    the same numbers to float rounding. Returns how many pairs were folded (0 for a
    segment-anything ViT or a SAM 2, which have no such pairs)."""
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(module: Any) -> int:
        n = 0
        for name, child in list(module.named_children()):
            conv, bn = getattr(child, "c", None), getattr(child, "bn", None)
            if (isinstance(child, torch.nn.Sequential) and len(child) == 2
                    and isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)):
                setattr(module, name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
                n += 1
            else:
                n += fold(child)
        return n

    changed = fold(encoder)
    if changed:
        encoder.to(memory_format=torch.channels_last)
    return changed
