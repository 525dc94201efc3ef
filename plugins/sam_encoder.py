"""A faster forward for segment-anything's ViT image encoder (same modules, same weights).

segment-anything's ``Attention.forward`` builds every attention score map in full, adds the
decomposed relative-position terms to it in two more passes over memory, takes the softmax in a
fourth and multiplies by the values in a fifth. :func:`attention_heads` hands the attention to
torch's fused ``scaled_dot_product_attention`` (a flash-attention kernel on CPU: scores, softmax
and the value product a tile at a time, in cache) with the relative-position terms passed as its
additive ``attn_mask``. That mask, ``rel_h[q, ky] + rel_w[q, kx]``, is built a band of heads and
query rows at a time into one buffer (:data:`MASK_CHUNK_BYTES`), never for the whole 12 x 4096 x
4096 map of a global block. In bfloat16 on a CPU without AMX the global blocks instead take
the reference's plain operations a cached band at a time (:func:`explicit_attention`: faster
there). q, k and v are strided views of the qkv projection's output, and the
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
#: Bytes of scores computed at once by :func:`_explicit_attention` (a band that stays in cache
#: while it is summed, normalised and multiplied: 4 MB measured fastest of 2, 4, 8 and 16).
SCORE_CHUNK_BYTES = 4 << 20
#: Key count from which a bfloat16 attention takes :func:`_explicit_attention` on a CPU without
#: AMX (vit_b's global blocks, 4096 keys; its 196-key windows stay on the fused kernel, faster there).
EXPLICIT_MIN_KEYS = 1024


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

    return _torch_says(torch.ops.mkldnn, "_is_mkldnn_bf16_supported")


@functools.cache
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later): torch's CPU attention
    kernel then runs bfloat16 tiles on them, and beats plain matmuls."""
    import torch

    return _torch_says(torch.cpu, "_is_amx_tile_supported")


def _torch_says(namespace: Any, check: str) -> bool:
    """The answer of one of torch's private CPU checks; False where this torch lacks it or fails."""
    fn = getattr(namespace, check, None)
    try:
        return bool(fn()) if fn is not None else False
    except RuntimeError:
        return False


@functools.cache
def cpu_vendor() -> str:
    """The x86 CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``), or "" where unknown."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    proc = platform.processor()  # Windows: "... AuthenticAMD" / "... GenuineIntel"
    return next((v for v in ("AuthenticAMD", "GenuineIntel") if v in proc), "")


@functools.cache
def fp32_linears_on_onednn() -> bool:
    """Whether float32 linear layers go through oneDNN (:func:`linear`) rather than MKL's
    ``F.linear``: on AMD CPUs, where MKL's float32 matmul is the slower (vit_b's layers on an
    AVX-512 Zen 4, 2 threads: 187-222 against 103-200 GFLOP/s, bench/README.md, session 10);
    not on Intel ones, where they measured the same and MKL stays."""
    return cpu_vendor() == "AuthenticAMD"


def explicit_attention(q: torch.Tensor, keys: int) -> bool:
    """Whether :func:`attention_heads` computes this attention as plain matmuls and a softmax
    (:func:`_explicit_attention`) instead of torch's fused kernel: bfloat16 on a CPU that has
    bfloat16 instructions but no AMX, over at least :data:`EXPLICIT_MIN_KEYS` keys, no autograd.

    On such a CPU (AVX-512 BF16 without AMX: AMD Zen 4) the fused kernel takes about 400 ms
    for a vit_b global block on 2 threads, the plain form about 250 ms (bench/README.md,
    session 10). With AMX the fused kernel is the faster (270 against 458 ms on one thread)."""
    import torch

    return (
        q.dtype == torch.bfloat16 and q.device.type == "cpu" and keys >= EXPLICIT_MIN_KEYS
        and not torch.is_grad_enabled() and cpu_has_bf16() and not cpu_has_amx()
    )


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
    against 50 ms for 16384 x 128 -> 512 on one thread); every float32 linear on a CPU where
    oneDNN beats MKL (:func:`fp32_linears_on_onednn`), else MKL's plain float32 matmul."""
    import torch
    import torch.nn.functional as F

    _between_steps()
    out_features = layer.weight.shape[0]
    fp32 = (fp32_gelu and gelu) or fp32_linears_on_onednn()
    dtypes = (torch.bfloat16, torch.float32) if fp32 else (torch.bfloat16,)
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
    if explicit_attention(q, n):
        _explicit_attention(q, k, v, rel_h, rel_w, self.scale, out_rows)
        return out.view(b, h, w, heads * c)
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


def _explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor,
    scale: float, out_rows: torch.Tensor,
) -> None:
    """segment-anything's attention as it computes it (the relative-position terms plus the scaled
    scores ``q @ k^T``, softmax, times the values), a band of heads and query rows at a time
    (:data:`SCORE_CHUNK_BYTES`, one reused buffer, the softmax in place) into ``out_rows``
    (B, heads, n, C). The reference's operations in its precision (the scores are summed onto the
    terms before one rounding, not rounded and then summed): for :func:`explicit_attention`'s
    case, where it beats the fused kernel."""
    import torch

    b, heads, n, c = q.shape
    h, w = rel_h.shape[2], rel_h.shape[3]
    qs = q * scale
    kt = k.transpose(-1, -2)
    per_head = b * n * n * q.element_size()
    head_step = max(1, min(heads, SCORE_CHUNK_BYTES // per_head))
    rows = h if head_step > 1 else max(1, min(h, SCORE_CHUNK_BYTES // (b * w * n * q.element_size())))
    scores = torch.empty(b * head_step * rows * w * n, dtype=q.dtype, device=q.device)
    values = torch.empty((b, head_step, rows * w, c), dtype=q.dtype, device=q.device)
    for h0 in range(0, heads, head_step):
        h1 = min(heads, h0 + head_step)
        for r0 in range(0, h, rows):
            _between_steps()
            r1 = min(h, r0 + rows)
            nh, nq = h1 - h0, (r1 - r0) * w
            s = scores[: b * nh * nq * n].view(b, nh, nq, n)
            # The relative-position terms first, then the scores added onto them by the matmul
            # (beta = 1): two passes over the band fewer than a matmul and two broadcast adds.
            s6 = s.view(b, nh, r1 - r0, w, h, w)  # (query y, x; key ky, kx)
            torch.add(rel_h[:, h0:h1, r0:r1, :, :, None], rel_w[:, h0:h1, r0:r1, :, None, :], out=s6)
            s.view(b * nh, nq, n).baddbmm_(
                qs[:, h0:h1, r0 * w : r1 * w].reshape(b * nh, nq, c), kt[:, h0:h1].reshape(b * nh, c, n)
            )
            torch.ops.aten._softmax.out(s, -1, False, out=s)
            o = values[:, :nh, :nq]
            torch.matmul(s, v[:, h0:h1], out=o)
            out_rows[:, h0:h1, r0 * w : r1 * w] = o


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
