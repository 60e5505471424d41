"""Winograd minimal filtering for 3x3 convolutions, F(m x m, 3 x 3).

Lavin & Gray, "Fast algorithms for convolutional neural networks", CVPR 2016 (arXiv
1509.09308). A stride-1 3x3 convolution ('VALID' on an input already padded by ``pad``) is
computed on overlapping ``t x t`` input tiles (``t = m + 2``, stride ``m``) as

    Y_tile = A^T [ sum_c (B^T d_c B) .* (G g_c G^T) ] A,

so each ``m x m`` output tile costs ``t^2`` multiplications per input/output channel pair
instead of ``9 m^2``: 2.25x fewer for m = 2, 4x fewer for m = 4. The sum over channels is a
batch of ``t^2`` matrix products (tiles x C_in) @ (C_in x C_out), which is where the time goes.
The transformed kernel ``U = G g G^T`` depends only on the weights: compute it once with
:func:`winograd_kernel` outside any sampling loop.

The transforms use the interpolation points {0, 1, -1} (m = 2) and {0, 1, -1, 2, -2} (m = 4)
of that paper. In float32 the error against a direct convolution was measured at about 1e-6
(m = 2) and 1e-5 (m = 4) of the output's scale; the tests check every output element against
a float32 forward-error bound of the transforms and the channel sum
(``tests/float32_bounds.py``), which holds whatever the CPU's vector width or FMA use. :func:`winograd_conv3x3_adjoint`
gives the convolution a custom VJP whose input gradient is again a Winograd convolution, with
the adjoint kernel (autodiff through the transforms was about 2x slower on XLA:CPU).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

__all__ = ["TILES", "WinogradTransform", "transform", "winograd_conv3x3",
           "winograd_conv3x3_adjoint", "winograd_kernel"]

Array = jax.Array


class WinogradTransform(NamedTuple):
    """Matrices of F(m, 3): input ``BT`` (t x t), kernel ``G`` (t x 3), output ``AT`` (m x t)."""

    m: int
    BT: tuple[tuple[float, ...], ...]
    G: tuple[tuple[float, ...], ...]
    AT: tuple[tuple[float, ...], ...]


_F2 = WinogradTransform(
    2,
    BT=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
    G=((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
    AT=((1, 1, 1, 0), (0, 1, -1, -1)),
)
_F4 = WinogradTransform(
    4,
    BT=((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
        (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
    G=((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
       (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
    AT=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)),
)
TILES: dict[int, WinogradTransform] = {2: _F2, 4: _F4}
"""Supported output tile sizes m."""


def transform(m: int) -> WinogradTransform:
    if m not in TILES:
        raise ValueError(f"Winograd tile size must be one of {sorted(TILES)}, got {m!r}")
    return TILES[m]


def winograd_kernel(kernel: Array, m: int = 2) -> Array:
    """``U[a, b] = (G g G^T)[a, b]`` for a HWIO 3x3 kernel: shape ``(t, t, C_in, C_out)``."""
    if kernel.shape[:2] != (3, 3):
        raise ValueError(f"expected a 3x3 HWIO kernel, got shape {kernel.shape}")
    g = jnp.asarray(transform(m).G, kernel.dtype)
    return jnp.einsum("ai,ijcd,bj->abcd", g, kernel, g, precision=jax.lax.Precision.HIGHEST)


def _combine(matrix: Sequence[Sequence[float]], parts: Sequence[Array]) -> list[Array]:
    """``[sum_k matrix[a][k] * parts[k] for a]``, skipping zeros and unit multiplications."""
    out = []
    for row in matrix:
        acc = None
        for coef, part in zip(row, parts):
            if coef == 0:
                continue
            term = part if coef == 1 else -part if coef == -1 else coef * part
            acc = term if acc is None else acc + term
        out.append(acc)
    return out


def _tiles(x: Array, axis: int, m: int, n_tiles: int) -> list[Array]:
    """The ``t = m + 2`` strided views ``x[.., m i + k, ..]`` (k < t, i < n_tiles) along ``axis``.

    ``x.shape[axis]`` must be ``m (n_tiles + 1)``; blocks of m come from a reshape, and the
    two halo rows of each tile from the next block, so no strided gather is needed.
    """
    shape = x.shape
    blocks = x.reshape(shape[:axis] + (n_tiles + 1, m) + shape[axis + 1:])
    take = lambda start, stop, k: jax.lax.index_in_dim(  # noqa: E731
        jax.lax.slice_in_dim(blocks, start, stop, axis=axis), k, axis + 1, keepdims=False)
    return [take(0, n_tiles, k) for k in range(m)] + [take(1, n_tiles + 1, k) for k in range(2)]


def _input_transform(xp: Array, tr: WinogradTransform, th: int, tw: int) -> Array:
    """``V[a, b, n, i, j, c] = (B^T d B)[a, b]`` for the tile (i, j) of image n, channel c.

    ``xp`` is the padded input, ``m (th + 1)`` by ``m (tw + 1)`` pixels.
    """
    m = tr.m
    rows = jnp.stack(_combine(tr.BT, _tiles(xp, 1, m, th)))          # (t, n, th, Wp, c)
    cols = _tiles(rows, 3, m, tw)                                     # t x (t, n, th, tw, c)
    return jnp.stack(_combine(tr.BT, cols), axis=1)                   # (t, t, n, th, tw, c)


def _output_transform(prod: Array, tr: WinogradTransform) -> Array:
    """``y[n, m i + p, m j + q, d] = (A^T M A)[p, q]``."""
    t, _, n, th, tw, d = prod.shape
    rows = _combine(tr.AT, [prod[a] for a in range(t)])              # m x (t, n, th, tw, d)
    y = jnp.stack([jnp.stack(_combine(tr.AT, [r[b] for b in range(t)]), axis=3)
                   for r in rows], axis=2)                            # (n, th, m, tw, m, d)
    return y.reshape(n, th * tr.m, tw * tr.m, d)


def _tile_rows_per_chunk(x: Array, u: Array, tw: int, chunk_bytes: int) -> int:
    """Tile rows per chunk so that V and M (t^2 x tiles x channels) stay near ``chunk_bytes``."""
    t = u.shape[0]
    row_bytes = t * t * x.shape[0] * tw * max(u.shape[2], u.shape[3]) * x.dtype.itemsize
    return max(1, chunk_bytes // row_bytes)


def winograd_conv3x3(x: Array, u: Array, pad: int = 1, m: int = 2, *,
                     chunk_bytes: int = 64 << 20) -> Array:
    """3x3 stride-1 convolution of NHWC ``x`` padded by ``pad`` zeros, kernel given as ``U``.

    ``u = winograd_kernel(kernel, m)``; equals ``lax.conv_general_dilated(x, kernel, (1, 1),
    [(pad, pad)] * 2)`` up to float rounding. Output ``(N, H + 2 pad - 2, W + 2 pad - 2, C_out)``.
    Large inputs are cut into bands of tile rows whose transformed tiles take about
    ``chunk_bytes``, which bounds the memory of the transformed tiles. (Bands small enough to
    stay in cache, 1-4 MiB, were measured slower on 2 AVX-512 cores: 0.33 against 0.29 s for
    the paper features' gradient at 256 px.)
    """
    tr = transform(m)
    t = tr.m + 2
    if x.ndim != 4 or u.shape[:2] != (t, t) or u.shape[2] != x.shape[-1]:
        raise ValueError(f"winograd_conv3x3: input {x.shape} and transformed kernel {u.shape} "
                         f"do not match F({m}, 3)")
    h, w = x.shape[1] + 2 * pad - 2, x.shape[2] + 2 * pad - 2
    th, tw = -(-h // m), -(-w // m)
    xp = jnp.pad(x, ((0, 0), (pad, m * (th + 1) - x.shape[1] - pad),
                     (pad, m * (tw + 1) - x.shape[2] - pad), (0, 0)))
    step = _tile_rows_per_chunk(x, u, tw, chunk_bytes)
    bands = []
    for start in range(0, th, step):
        rows = min(step, th - start)
        v = _input_transform(xp[:, m * start: m * (start + rows + 1)], tr, rows, tw)
        prod = jnp.einsum("abnijc,abcd->abnijd", v, u.astype(v.dtype))
        bands.append(_output_transform(prod, tr))
    y = bands[0] if len(bands) == 1 else jnp.concatenate(bands, axis=1)
    return y[:, :h, :w]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def winograd_conv3x3_adjoint(x: Array, u: Array, u_t: Array, pad: int = 1, m: int = 2) -> Array:
    """:func:`winograd_conv3x3` whose input gradient is again a Winograd convolution.

    ``u_t = winograd_kernel(transpose_kernel(kernel), m)``: the adjoint of ``x -> x * g``
    ('VALID' after ``pad``) is ``dy -> dy * flip(g)^T`` after ``2 - pad``, so the backward
    pass costs what the forward does (autodiff through the transforms is about 2x slower on
    XLA:CPU). ``u_t`` gets a zero cotangent: precompute it from the kernel, outside the loop.
    """
    return winograd_conv3x3(x, u, pad, m)


def _adjoint_fwd(x, u, u_t, pad, m):
    return winograd_conv3x3(x, u, pad, m), (x, u, u_t)


def _adjoint_bwd(pad, m, residuals, g):
    x, u, u_t = residuals
    dx = winograd_conv3x3(g, u_t, 2 - pad, m)
    # linear in u: transpose it rather than vjp, which would evaluate the forward again
    (du,) = jax.linear_transpose(lambda u_: winograd_conv3x3(x, u_, pad, m), u)(g)
    return dx, du, jnp.zeros_like(u_t)


winograd_conv3x3_adjoint.defvjp(_adjoint_fwd, _adjoint_bwd)
