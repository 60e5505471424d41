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

FN_ROUNDING = 16 * U
"""Error allowed for an elementwise transcendental function (expm1, exp, cos): relative to
the result (absolute for cos). Not a proven bound but a measured one with margin: over 6e5
float32 arguments, XLA:CPU's expm1 (so jax.nn.celu) was within 5.4 u, exp 1.4 u, cos 0.54 u
(absolute, |x| < 200), torch's CELU 1.1 u."""


def preprocess_abs(x, matrix, bias) -> np.ndarray:
    """``|x| @ |matrix|^T + |bias|``: the absolute sum of the 3-term preprocessing map."""
    return _nhwc(np.abs(x)) @ np.abs(np.asarray(matrix, np.float64)).T + np.abs(bias)


def preprocess_error(x, params) -> tuple[np.ndarray, np.ndarray]:
    """The preprocessed input ``x @ M^T + b`` (float64) and a bound on the difference of two
    float32 evaluations of it, 3 products and the bias each: ``2 gamma_4 (|x| |M|^T + |b|)``."""
    matrix, bias = (np.asarray(params["preprocess"][k], np.float64) for k in ("matrix", "bias"))
    pre = _nhwc(x) @ matrix.T + bias
    return pre, 2 * gamma(4) * preprocess_abs(x, matrix, bias)


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

    A wrong layer (tile, transform entry, padding, ...) therefore fails at that layer. The
    exact or 1-Lipschitz steps (activations, pooling; labelled "Lipschitz step") pass the
    measured input difference through, so their ``max |error| / bound`` is close to 1 by
    construction and cannot exceed it on any machine; the rounding margin is that of the
    convolution checks. Returns ``{layer: max |error| / bound}``.
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
        step = "" if name.startswith("conv") else " (Lipschitz step)"
        ratios[name] = assert_within_float32_bound(a[name], b[name], bound + TINY,
                                                   f"{what}: {name}{step}")
        prev = name
    return ratios


# --- VGG-19 gradients, layer by layer ------------------------------------------------------

def traced_gradient(fn, x):
    """Input gradient of ``fn(x, hook)`` and the values and cotangents around each convolution.

    ``fn`` returns a scalar loss and calls ``hook(name, "in", h)`` on the input and
    ``hook(name, "out", z)`` on the output (bias included) of each 3x3 convolution, using
    what the hook returns (the value plus a zero perturbation, whose gradient is the cotangent
    there). Returns ``dx`` and ``{name: {"z": z, "gin": dL/dh, "gout": dL/dz}}``.
    """
    import jax
    import jax.numpy as jnp

    shapes: dict = {}
    jax.eval_shape(lambda x: fn(x, lambda name, kind, v: shapes.setdefault(
        (name, kind), (v.shape, v.dtype)) and v), x)
    eps0 = {k: jnp.zeros(s, d) for k, (s, d) in shapes.items()}

    def loss(x, eps):
        zs = {}

        def hook(name, kind, v):
            if kind == "out":
                zs[name] = v
            return v + eps[(name, kind)]
        return fn(x, hook), zs

    (dx, deps), zs = jax.grad(loss, argnums=(0, 1), has_aux=True)(x, eps0)
    names = sorted({name for name, _ in shapes})
    return dx, {n: {"z": zs[n], "gin": deps[(n, "in")], "gout": deps[(n, "out")]} for n in names}


def vgg_hooks(hook):
    """Context manager: inside it, ``VGG19.apply`` calls ``hook`` around each convolution
    (for :func:`traced_gradient`), through ``flax.linen.intercept_methods``."""
    import flax.linen as nn

    from maxent_jax.nn.vgg import Conv3x3

    def interceptor(next_fun, args, kwargs, context):
        if isinstance(context.module, Conv3x3) and context.method_name == "__call__":
            name = context.module.name
            return hook(name, "out", next_fun(hook(name, "in", args[0]), *args[1:], **kwargs))
        return next_fun(*args, **kwargs)

    return nn.intercept_methods(interceptor)


def _reflect_pad_t(v: np.ndarray) -> np.ndarray:
    """Transpose of 1-pixel reflect padding (NHWC): fold the border onto rows/columns 1, -2."""
    v = v.copy()
    v[:, 2] += v[:, 0]
    v[:, -3] += v[:, -1]
    v = v[:, 1:-1]
    v[:, :, 2] += v[:, :, 0]
    v[:, :, -3] += v[:, :, -1]
    return v[:, :, 1:-1]


def _conv_t_abs(g, kernel_t, padding: str) -> np.ndarray:
    """``|K^T| * |g|``: absolute sums of the input cotangent of a 3x3 convolution."""
    if padding == "reflect":
        return _reflect_pad_t(conv_abs(g, kernel_t, 2))
    return conv_abs(g, kernel_t, 1)


def _conv_t_bound(g, kernel_t, padding: str, m) -> np.ndarray:
    """Rounding bound of the input cotangent ``K^T g`` on one path (tile ``m``; 0: direct)."""
    pad = 2 if padding == "reflect" else 1
    if m:
        e = winograd_conv_bound(g, kernel_t, pad, m)
    else:
        e = float32_bound(conv_abs(g, kernel_t, pad), 9 * np.shape(kernel_t)[2])
    if padding == "reflect":  # folding the border adds up to 3 terms to a sum
        g_abs = conv_abs(g, kernel_t, pad)
        e = _reflect_pad_t(e) * (1 + gamma(3)) + gamma(3) * _reflect_pad_t(g_abs)
    return e


def check_vgg_gradient(paths, params, loss_grads, *, padding: str, tiles, what: str):
    """Compare two input gradients of a VGG-19 loss (CELU, average pooling) layer by layer.

    ``paths = ((dx_a, trace_a), (dx_b, trace_b))`` from :func:`traced_gradient` over the same
    convolutions; the loss is ``sum_l phi_l(a_l)`` over the CELU outputs ``a_l`` named in
    ``loss_grads``: ``"mean"`` (cotangent ``fl(1/N)``, the same on both paths) or ``"sin"``
    (``sum sin(a)``, cotangent ``cos(a)``). ``tiles``: each path's Winograd tile per
    convolution (0 or missing: direct). Backwards from the deepest convolution, with ``d``
    the measured difference of the two paths' values:

    * input cotangent ``gin = K^T gout`` (a 3x3 convolution with the adjoint kernel):
      ``|K^T| * |d gout|`` plus each path's convolution bound on its own ``gout`` (direct:
      ``gamma_{9 C_out}``, Winograd: :func:`winograd_conv_bound`; reflect padding folds up to
      3 more terms per sum: ``gamma_3``);
    * output cotangent ``gout = abar celu'(z)``, ``abar = pool^T(gin of the next layer)``
      ``+ phi'(a)`` (pool^T of the average: exact): ``|d abar| + |abar_b| |d z|`` (celu' is
      1-Lipschitz) with ``|d abar| <= pool^T |d gin| + |d a|`` for ``sin`` (cos is 1-Lipschitz,
      ``|d a| <= |d z|`` + CELU's rounding), plus ``FN_ROUNDING`` for exp and cos, and 3 u
      for the product and the sum, per path;
    * the input gradient ``dx = gin(conv1_1) M`` (the 3 x 3 preprocessing matrix):
      ``|d gin| |M| + gamma_3 |gin| |M|`` per path.

    The output cotangent and input gradient checks pass measured differences through (1-
    Lipschitz steps, ratio close to 1 by construction, see :func:`check_vgg_layers`); the input
    cotangent checks carry the rounding margin. Returns ``{check: max |error| / bound}``.
    """
    from maxent_jax.nn.vgg import LAYER_NAMES

    (dx_a, tr_a), (dx_b, tr_b) = paths
    convs = [n for n in LAYER_NAMES if n in tr_a]
    ratios = {}
    f64 = lambda v: _nhwc(v)  # noqa: E731
    for i in reversed(range(len(convs))):
        name = convs[i]
        relu = "relu" + name[4:]
        za, zb = f64(tr_a[name]["z"]), f64(tr_b[name]["z"])
        dz = np.abs(za - zb)
        aa = np.where(za > 0, za, np.expm1(np.minimum(za, 0)))
        ab = np.where(zb > 0, zb, np.expm1(np.minimum(zb, 0)))
        # abar on each path (magnitude) and the bound on its difference
        mag_a = mag_b = 0.0
        dabar = 0.0
        terms = 0
        if i + 1 < len(convs):
            nxt = convs[i + 1]
            ga, gb = f64(tr_a[nxt]["gin"]), f64(tr_b[nxt]["gin"])
            d = np.abs(ga - gb)
            if LAYER_NAMES.index(nxt) - LAYER_NAMES.index(name) == 3:  # a pool in between
                def pool_t(v, shape=za.shape):
                    out = np.zeros(shape)
                    n, h, w, c = v.shape
                    out[:, : 2 * h, : 2 * w] = np.repeat(np.repeat(v, 2, 1), 2, 2) / 4
                    return out
                ga, gb, d = pool_t(ga), pool_t(gb), pool_t(d)
            mag_a, mag_b, dabar = np.abs(ga), np.abs(gb), d
            terms += 1
        if relu in loss_grads:
            if loss_grads[relu] == "sin":
                da = dz + FN_ROUNDING * (np.abs(aa) + np.abs(ab))
                dabar = dabar + da + FN_ROUNDING * 2  # |cos| <= 1
                mag_a, mag_b = mag_a + 1.0, mag_b + 1.0
            else:  # mean over the layer: fl(1/N), identical on both paths
                inv_n = 1.0 / np.prod(za.shape[1:])
                mag_a, mag_b = mag_a + inv_n, mag_b + inv_n
            terms += 1
        rounding = (FN_ROUNDING + 2 * U + (U if terms == 2 else 0)) * (mag_a + mag_b)
        bound = dabar + mag_b * dz + rounding
        ratios[f"{name} output cotangent"] = assert_within_float32_bound(
            tr_a[name]["gout"], tr_b[name]["gout"], bound + TINY,
            f"{what}: {name} output cotangent (Lipschitz step)")
        # input cotangent: the transposed convolution
        kernel = np.asarray(params[name]["kernel"], np.float64)
        kernel_t = np.swapaxes(kernel[::-1, ::-1], 2, 3)
        goa, gob = f64(tr_a[name]["gout"]), f64(tr_b[name]["gout"])
        bound = (_conv_t_abs(goa - gob, kernel_t, padding)
                 + sum(_conv_t_bound(g, kernel_t, padding, t.get(name, 0))
                       for g, t in zip((goa, gob), tiles)))
        ratios[f"{name} input cotangent"] = assert_within_float32_bound(
            tr_a[name]["gin"], tr_b[name]["gin"], bound + TINY,
            f"{what}: {name} input cotangent")
    matrix = np.abs(np.asarray(params["preprocess"]["matrix"], np.float64))
    ga, gb = f64(tr_a[convs[0]]["gin"]), f64(tr_b[convs[0]]["gin"])
    bound = np.abs(ga - gb) @ matrix + gamma(3) * (np.abs(ga) + np.abs(gb)) @ matrix
    ratios["input gradient"] = assert_within_float32_bound(
        f64(dx_a), f64(dx_b), bound + TINY, f"{what}: input gradient (Lipschitz step)")
    return ratios
