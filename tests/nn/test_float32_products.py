"""``precision="float32"`` means float32 in every product, not only in the convolutions.

On recent GPUs XLA's DEFAULT precision rounds float32 matrix products to TF32 (about 1e-3
relative): measured on an H100, the torch-vs-JAX gradient differed by 1e-3 while the
convolutions ran at HIGHEST, because the 3x3 preprocessing product did not. The CPU cannot
show that rounding, so these tests read the traced programs instead: every ``dot_general`` and
``conv_general_dilated`` of the float32 paths must ask for HIGHEST.
"""

from __future__ import annotations

from typing import Any, Iterator

import jax
import jax.numpy as jnp
import pytest

from maxent_jax.nn import features as feats
from maxent_jax.baselines.gatys import gram_loss, lbfgs_init, lbfgs_step, target_grams
from maxent_jax.nn.backbone import prepare_backbone
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.nn.vgg import random_variables, with_transposed_kernels

PRODUCTS = ("dot_general", "conv_general_dilated")


def _sub_jaxprs(value: Any) -> Iterator[Any]:
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _sub_jaxprs(v)


def products(jaxpr) -> Iterator[tuple[str, Any]]:
    """(primitive, precision) of every product, inner jaxprs (scan, custom_vjp, ...) included."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in PRODUCTS:
            yield eqn.primitive.name, eqn.params.get("precision")
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                yield from products(sub)


def assert_highest(fn, *args) -> int:
    found = list(products(jax.make_jaxpr(fn)(*args).jaxpr))
    assert found, "no product traced"
    highest = jax.lax.Precision.HIGHEST
    for name, precision in found:
        pair = precision if isinstance(precision, tuple) else (precision, precision)
        assert all(p == highest for p in pair), f"{name} with precision {precision}"
    return len(found)


@pytest.fixture(scope="module")
def variables():
    return with_transposed_kernels(random_variables(jax.random.key(0), layers=("relu2_1",)))


def test_energy_value_and_gradient_are_float32(variables):
    spec = feats.get_spec(None, layers=("relu1_1", "relu2_1"))
    x = jax.random.uniform(jax.random.key(1), (16, 16, 3))
    f = feats.make_feature_fn(spec, variables)
    energy = macrocanonical_energy(f, f(x), eps=0.1)
    theta = jnp.ones(feats.feature_dim(spec))
    n = assert_highest(jax.value_and_grad(energy, argnums=1, has_aux=True), theta, x)
    assert n >= 7  # preprocessing, 3 convolutions and their input gradients, <theta, gap>


def test_gatys_loss_and_lbfgs_are_float32(variables):
    spec = feats.get_spec(None, layers=("relu1_1", "pool1"))
    x = jax.random.uniform(jax.random.key(2), (16, 16, 3))
    backbone = prepare_backbone(spec._replace(conv="direct"), variables, (16, 16))
    loss = jax.value_and_grad(gram_loss(backbone, target_grams(backbone, x),
                                        {"relu1_1": 1.0, "pool1": 1.0}))
    assert_highest(loss, x)
    state = lbfgs_init(x, loss, history=3)
    assert_highest(lambda s: lbfgs_step(s, loss)[0].position, state)


def test_colour_statistics_are_float32():
    assert_highest(feats.colour_statistics, jnp.ones((4, 4, 3)))
