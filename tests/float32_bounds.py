"""Float32 rounding-error bounds for tests that compare two computations of one quantity.

Tolerances tuned on one machine fail on another: XLA:CPU (and torch) pick the summation
order, the SIMD width and the use of FMA per instruction set. These helpers bound the
rounding error from the data instead, with the standard model of floating-point arithmetic
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., sections 2.2, 3.1-3.5):
every float32 operation returns ``op(a, b) (1 + delta)`` with ``|delta| <= u = 2^-24``
(an FMA rounds once), so

* a sum of ``n`` products ``s = sum_i a_i b_i``, evaluated in ANY order (serial, pairwise,
  blocked, SIMD lanes of any width, with or without FMA), satisfies

      |fl(s) - s| <= gamma_n * sum_i |a_i| |b_i|,        gamma_n = n u / (1 - n u);

* more generally, a value computed by sums and products in which every input reaches the
  result through at most ``n`` roundings is within ``gamma_n`` times the same expression
  evaluated with absolute values (the "absolute sum" below) of its exact value.

Two computations ``a`` and ``b`` of the same exact value ``z``, within ``bound_a`` and
``bound_b`` of it, differ by at most ``bound_a + bound_b``: :func:`assert_within_float32_bound`
checks that element by element. Such a bound holds on every CPU; it is not a tuned number.
The absolute sums are evaluated in float64 from the actual float32 data (their own rounding,
about 1e-16 relative, is negligible). ``TINY`` is added to every bound: flush-to-zero of
subnormal results (XLA:CPU sets FTZ/DAZ) loses at most 2^-126 per operation.
"""

from __future__ import annotations

import numpy as np

U = 2.0 ** -24
"""Unit roundoff of float32 (round to nearest)."""
TINY = 2.0 ** -100
"""Absolute slack covering flush-to-zero of subnormals (2^-126 per operation), with margin."""

RATIOS: dict[str, float] = {}
"""``max |actual - expected| / bound`` of every check made so far (printed with ``-s``)."""


def gamma(n: int) -> float:
    """``gamma_n = n u / (1 - n u)``: relative error bound of an ``n``-rounding computation."""
    if n * U >= 1:
        raise ValueError(f"gamma_{n} is not defined in float32")
    return n * U / (1 - n * U)


def float32_bound(abs_sum, terms: int) -> np.ndarray:
    """``gamma_terms * abs_sum``: a sum of ``terms`` products, ``abs_sum = sum |a_i| |b_i|``."""
    return gamma(terms) * np.asarray(abs_sum, np.float64) + TINY


def assert_within_float32_bound(actual, expected, bound, what: str) -> float:
    """Assert ``|actual - expected| <= bound`` elementwise; return ``max |error| / bound``.

    ``bound`` is the sum of the two computations' error bounds (see the module docstring),
    e.g. ``float32_bound(abs_sum, terms)`` for each of two evaluation orders of the same sum
    of ``terms`` products, or :func:`direct_conv_bound` + :func:`winograd_conv_bound`.
    """
    a = np.asarray(actual, np.float64)
    e = np.asarray(expected, np.float64)
    bound = np.broadcast_to(np.asarray(bound, np.float64), np.broadcast_shapes(a.shape, e.shape))
    err = np.abs(a - e)
    ratio = float(np.max(err / bound)) if err.size else 0.0
    RATIOS[what] = ratio
    print(f"float32 bound [{what}]: max |error| / bound = {ratio:.3g}")
    bad = ~(err <= bound)  # NaN fails too
    if bad.any():
        at = np.unravel_index(np.argmax(np.where(bad, err / bound, -np.inf)), err.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} elements exceed the float32 error bound "
            f"(worst |error| / bound = {ratio:.3g} at {tuple(int(i) for i in at)}: "
            f"|error| = {err[at]:.3g}, bound = {bound[at]:.3g})")
    return ratio


# --- convolutions -----------------------------------------------------------------------

def _nhwc(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x[None] if x.ndim == 3 else x


def conv_abs(x, kernel, pad: int) -> np.ndarray:
    """``sum |x| |kernel|`` over the ``9 C_in`` products of each output of a 3x3 stride-1
    convolution (NHWC input padded by ``pad`` zeros, HWIO kernel): ``|x| * |kernel|``."""
    x, k = np.abs(_nhwc(x)), np.abs(np.asarray(kernel, np.float64))
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = xp.shape[1] - 2, xp.shape[2] - 2
    return sum(xp[:, a:a + h, b:b + w] @ k[a, b] for a in range(3) for b in range(3))


def direct_conv_bound(x, kernel, pad: int) -> np.ndarray:
    """Error bound of a direct 3x3 convolution in float32, any summation order:
    ``gamma_{9 C_in} (|x| * |kernel|)``."""
    return float32_bound(conv_abs(x, kernel, pad), 9 * np.shape(kernel)[2])


def _nnz(matrix) -> int:
    """Most nonzero coefficients in a row of ``matrix``."""
    return max(sum(c != 0 for c in row) for row in matrix)


def winograd_terms(m: int, c_in: int) -> dict[str, int]:
    """Roundings on each path of ``maxent_jax.nn.winograd.winograd_conv3x3`` with F(m, 3).

    * kernel ``U = G g G^T`` (einsum, any contraction order): 9 terms, 2 products each, and
      the rounding of G's entries (1/6, 1/12, ...) to float32 on both sides: ``12``;
    * input ``V = B^T d B``, rows then columns, at most ``nnz(B^T row)`` terms (products by
      the coefficients included) each: ``2 nnz(B^T)``;
    * the channel sum ``M = sum_c V_c U_c``: ``C_in``;
    * output ``Y = A^T M A``, rows then columns: ``2 nnz(A^T)``.
    """
    from maxent_jax.nn.winograd import transform

    tr = transform(m)
    return {"G": 12, "B": 2 * _nnz(tr.BT), "C": c_in, "A": 2 * _nnz(tr.AT)}


def winograd_tiles(x, pad: int, m: int) -> np.ndarray:
    """The ``(m + 2)^2`` input tiles ``d`` of F(m, 3), float64: ``(N, th, t, tw, t, C)``."""
    x = _nhwc(x)
    h, w = x.shape[1] + 2 * pad - 2, x.shape[2] + 2 * pad - 2
    th, tw = -(-h // m), -(-w // m)
    t = m + 2
    xp = np.pad(x, ((0, 0), (pad, m * th + 2 - x.shape[1] - pad),
                    (pad, m * tw + 2 - x.shape[2] - pad), (0, 0)))
    rows = m * np.arange(th)[:, None] + np.arange(t)
    cols = m * np.arange(tw)[:, None] + np.arange(t)
    return xp[:, rows[:, :, None, None], cols[None, None]]


def _from_tiles(y: np.ndarray, m: int, h: int, w: int) -> np.ndarray:
    """``(N, th, tw, m, m, C)`` output tiles -> ``(N, h, w, C)``."""
    n, th, tw, _, _, c = y.shape
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, th * m, tw * m, c)[:, :h, :w]


def winograd_conv_bound(x, kernel, pad: int, m: int, *, u=None) -> np.ndarray:
    """Error bound of ``winograd_conv3x3(x, winograd_kernel(kernel, m), pad, m)`` in float32.

    With ``V = B^T d B`` (per tile and input channel), ``U = G g G^T``, ``M = sum_c V U`` and
    ``Y = A^T M A`` evaluated exactly, ``|V|_abs = |B^T| |d| |B|``, ``|U|_abs = |G| |g| |G^T|``
    and the rounding counts ``n_G, n_B, n_C, n_A`` of :func:`winograd_terms`, the first-order
    error of each output is at most

        |A^T| [ sum_c ( g_B |V|_abs |U| + g_G |V| |U|_abs + g_C |V| |U| ) ] |A| + g_A |A^T| |M| |A|

    (``g_k = gamma_{n_k}``): each stage's rounding times the absolute sum it rounds, carried
    to the output by the absolute values of the later stages. The second-order terms are at
    most ``(g_G + g_B + g_C + g_A)^2`` times the fully absolute sum
    ``|A^T| [sum_c |V|_abs |U|_abs] |A|``, which is added. The transforms' growth (entries up
    to 5 in B, 8 in A for m = 4) enters through these absolute sums, element by element.

    ``u``: the float32 array ``winograd_kernel(kernel, m)`` when every computation compared
    uses that same array; its rounding is then common to them, ``U`` is taken as exactly
    ``u`` and ``g_G = 0``.
    """
    from maxent_jax.nn.winograd import transform

    tr = transform(m)
    bt, g, at = (np.array(a, np.float64) for a in (tr.BT, tr.G, tr.AT))
    x, k = _nhwc(x), np.asarray(kernel, np.float64)
    h, w = x.shape[1] + 2 * pad - 2, x.shape[2] + 2 * pad - 2
    d = winograd_tiles(x, pad, m)
    n_ = winograd_terms(m, k.shape[2])
    gb, gg, gc, ga = (gamma(n_[s]) for s in "BGCA")
    if u is not None:
        gg = 0.0

    def input_t(b, d):  # (a, b, N * th * tw, C)
        v = np.einsum("ak,bl,nikjlc->abnijc", b, b, d, optimize=True)
        return v.reshape(v.shape[:2] + (-1, v.shape[-1]))

    def kernel_t(g, k):  # (a, b, C_in, C_out)
        return np.einsum("ak,bl,klcd->abcd", g, g, k, optimize=True)

    v, v_abs = input_t(bt, d), input_t(np.abs(bt), np.abs(d))
    if u is None:
        u, u_abs = kernel_t(g, k), kernel_t(np.abs(g), np.abs(k))
    else:
        u = np.asarray(u, np.float64)
        u_abs = np.abs(u)
    av, au = np.abs(v), np.abs(u)
    first = gb * (v_abs @ au) + gg * (av @ u_abs) + gc * (av @ au) + ga * np.abs(v @ u)
    full = v_abs @ u_abs

    def output_t(mm):  # (a, b, tiles, C_out) -> (N, h, w, C_out)
        mm = mm.reshape(mm.shape[:2] + d.shape[:2] + d.shape[3:4] + mm.shape[-1:])
        return _from_tiles(np.einsum("pa,qb,abnijd->nijpqd", np.abs(at), np.abs(at), mm,
                                    optimize=True), m, h, w)

    return output_t(first) + (gb + gg + gc + ga) ** 2 * output_t(full) + TINY


# --- VGG-19, layer by layer ---------------------------------------------------------------

FN_ROUNDING = 8 * U
"""Relative error allowed for an elementwise transcendental function (expm1, exp, sin, cos):
4 ulps, 4 times what libm-quality implementations (XLA's, Sleef's in torch) guarantee."""


def preprocess_abs(x, matrix, bias) -> np.ndarray:
    """``|x| @ |matrix|^T + |bias|``: the absolute sum of the 3-term preprocessing map."""
    return _nhwc(np.abs(x)) @ np.abs(np.asarray(matrix, np.float64)).T + np.abs(bias)


def _conv_bound(h, kernel, bias, pad: int, m) -> np.ndarray:
    """Error bound of conv (tile ``m``; 0: direct, any order) + bias on the input ``h``."""
    if m is None:  # an exact (float64) path
        return np.zeros(())
    c_abs = conv_abs(h, kernel, pad) + np.abs(bias)
    if not m:  # bias in or after the sum: 9 C_in + 1 terms
        return float32_bound(c_abs, 9 * np.shape(kernel)[2] + 1)
    return winograd_conv_bound(h, kernel, pad, m) * (1 + U) + U * c_abs


def check_vgg_layers(acts, params, pre, pre_error, *, activation: str, pooling: str,
                     padding: str, tiles, what: str) -> dict[str, float]:
    """Compare two VGG-19 computations ``acts = (a, b)`` layer by layer within float32 bounds.

    ``a``/``b``: ``{layer: activation}`` for every layer of ``LAYER_NAMES`` up to the deepest
    compared. ``tiles = (tiles_a, tiles_b)``: each path's Winograd tile per convolution (0 or
    missing: direct), or ``None`` for a path computed exactly (float64). ``pre``: the
    preprocessed input (float64), and ``pre_error`` a bound on ``|pre_a - pre_b|``.

    Rounding compounds through a deep network (bounds carried through the absolute values of
    16 layers would be astronomically loose), so each layer is checked on its own, from the
    two paths' computed inputs ``h_a``, ``h_b`` (the previous layer, ``dh = h_a - h_b``):

    * convolution + bias: ``|K| * |dh|`` (or ``|K| * pre_error`` for conv1_1) plus each path's
      rounding on its own input: ``gamma_{9 C_in + 1} (|h| * |K| + |bias|)`` for a direct
      convolution (any order), the Winograd bound (:func:`winograd_conv_bound`) plus the
      rounding of the bias addition for a Winograd one;
    * ReLU (exact) and CELU are 1-Lipschitz: ``|dz|``, plus ``FN_ROUNDING |a|`` per path for
      CELU's expm1;
    * average pooling: ``mean |dh|`` over the window plus ``gamma_3 mean |h|`` per path (the
      division by 4 is exact); max pooling is exact and 1-Lipschitz: ``max |dh|``.

    A wrong layer (tile, transform entry, padding, ...) therefore fails at that layer.
    Returns ``{layer: max |error| / bound}``.
    """
    from maxent_jax.nn.vgg import LAYER_NAMES

    a, b = ({k: _nhwc(v) for k, v in d.items()} for d in acts)
    last = max(LAYER_NAMES.index(k) for k in a if k in b)
    pre = _nhwc(pre)
    pre_error = np.broadcast_to(np.asarray(pre_error, np.float64), pre.shape)
    ratios, prev = {}, None
    for name in LAYER_NAMES[: last + 1]:
        if name.startswith("conv"):
            kernel, bias = (np.asarray(params[name][k], np.float64) for k in ("kernel", "bias"))
            if prev is None:  # conv1_1: both paths' preprocessed inputs within pre_error
                h_a = h_b = np.abs(pre) + pre_error
                dh = pre_error
            else:
                h_a, h_b, dh = a[prev], b[prev], a[prev] - b[prev]
            pad = 1
            if padding == "reflect":
                h_a, h_b, dh = (np.pad(v, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
                                for v in (h_a, h_b, dh))
                pad = 0
            bound = (conv_abs(dh, kernel, pad)
                     + sum(_conv_bound(h, kernel, bias, pad, None if t is None else t.get(name, 0))
                           for h, t in zip((h_a, h_b), tiles)))
        elif name.startswith("relu"):
            bound = np.abs(a[prev] - b[prev])
            if activation == "celu":
                bound = bound + sum(FN_ROUNDING * np.abs(v[name])
                                    for v, t in zip((a, b), tiles) if t is not None)
        else:
            def windows(v):
                n, h, w, c = v.shape
                return v[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
            dh = np.abs(windows(a[prev] - b[prev]))
            if pooling == "max":
                bound = dh.max(axis=(2, 4))
            else:
                bound = dh.mean(axis=(2, 4)) + sum(
                    gamma(3) * np.abs(windows(v[prev])).mean(axis=(2, 4))
                    for v, t in zip((a, b), tiles) if t is not None)
        ratios[name] = assert_within_float32_bound(a[name], b[name], bound + TINY,
                                                   f"{what}: {name}")
        prev = name
    return ratios
