import math

import numpy as np
import pytest

from hdogreg.hessian import (
    constraint_from_eigenvalues,
    hessian_constraint,
    hessian_eigenvalues,
    hessian_mask,
    hessian_of_dog,
    kept_direction_fraction,
    saddle_ratio_limit,
)


def rotated(l1, l2, theta):
    """Hessian entries (Hrr, Hrc, Hcc) with eigenvalues l1, l2 and eigenvectors at angle theta."""
    c, s = math.cos(theta), math.sin(theta)
    R = np.array([[c, -s], [s, c]])
    H = R @ np.diag([l1, l2]) @ R.T
    return H[0, 0], H[0, 1], H[1, 1]


# (lambda1, lambda2, kept by the paper's Eq. 6 with h_thr=1.4, kept by the authors' code)
TRUTH = [
    ((-2.0, -1.0), True, True),     # negative definite: bright blob
    ((-1.0, -1.0), True, True),     # isotropic bright blob (det/tr^2 = 1/4)
    ((-1.0, 0.0), True, True),      # bright line: one negative eigenvalue
    ((-1.0, 0.2), True, True),      # saddle, small positive eigenvalue
    ((-1.0, 0.8), True, False),     # saddle, large positive eigenvalue (still tr < 0)
    ((-0.5, 1.0), False, False),    # saddle dominated by the positive eigenvalue (tr > 0)
    ((1.0, 2.0), False, False),     # positive definite: dark blob
    ((0.0, 1.0), False, False),     # dark line
    ((0.0, 0.0), False, False),     # flat
]


@pytest.mark.parametrize("eig,paper,code", TRUTH)
@pytest.mark.parametrize("theta", [0.0, 0.4, math.pi / 4, 2.0])
def test_eq6_truth_table(eig, paper, code, theta):
    H = rotated(*eig, theta)
    assert bool(hessian_constraint(*H, 1.4, rule="paper")) is paper
    assert bool(hessian_constraint(*H, 1.4, rule="code")) is code
    assert bool(hessian_constraint(*H, 1.4)) is code  # the default reading
    assert bool(constraint_from_eigenvalues(*eig, 1.4, rule="paper")) is paper
    assert bool(constraint_from_eigenvalues(*eig, 1.4, rule="code")) is code


def test_paper_rule_is_trace_only_for_h_thr_above_quarter():
    rng = np.random.default_rng(0)
    Hrr, Hrc, Hcc = rng.normal(size=(3, 5000))
    for h in (0.25, 0.5, 1.4, 10.0):
        np.testing.assert_array_equal(hessian_constraint(Hrr, Hrc, Hcc, h, rule="paper"), Hrr + Hcc < 0)
    # below 1/4 the paper's form starts to reject *isotropic* blobs, keeping elongated ones
    assert not hessian_constraint(*rotated(-1.0, -1.0, 0.3), 0.2, rule="paper")
    assert hessian_constraint(*rotated(-1.0, -0.1, 0.3), 0.2, rule="paper")
    # and with h_thr < 0 only saddles remain
    assert not hessian_constraint(*rotated(-2.0, -1.0, 0.3), -0.1, rule="paper")
    assert hessian_constraint(*rotated(-1.0, 0.5, 0.3), -0.1, rule="paper")


@pytest.mark.parametrize("h_thr", [0.1, 1.4, 5.0])
def test_code_rule_keeps_saddles_below_the_ratio_limit(h_thr):
    rho = saddle_ratio_limit(h_thr)
    assert rho / (1 - rho) ** 2 == pytest.approx(h_thr)
    assert constraint_from_eigenvalues(-1.0, 0.99 * rho, h_thr, rule="code")
    assert not constraint_from_eigenvalues(-1.0, 1.01 * rho, h_thr, rule="code")
    assert constraint_from_eigenvalues(-1.0, -0.999, h_thr, rule="code")   # any neg. definite


def test_ratio_limit_of_the_paper_value():
    assert saddle_ratio_limit(1.4) == pytest.approx(0.4396, abs=1e-4)
    assert saddle_ratio_limit(0.0) == 0.0


@pytest.mark.parametrize("a,b,c", [(-1.0, 0.5, -3.0), (2.0, -1.0, 0.0), (0.3, 0.3, 0.3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_differences_exact_on_quadratics(a, b, c, dtype):
    rr, cc = np.mgrid[:9, :11].astype(np.float64)
    f = (a * (rr - 4) ** 2 + 2 * b * (rr - 4) * (cc - 5) + c * (cc - 5) ** 2).astype(dtype)
    Hrr, Hrc, Hcc = hessian_of_dog(f)
    assert Hrr.dtype == dtype and Hrr.shape == f.shape
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(Hrr[inner], 2 * a, atol=1e-4)
    np.testing.assert_allclose(Hrc[inner], 2 * b, atol=1e-4)
    np.testing.assert_allclose(Hcc[inner], 2 * c, atol=1e-4)


def test_hessian_of_a_stack_is_per_layer():
    stack = np.random.default_rng(1).random((3, 12, 10)).astype(np.float32)
    for full, layer in zip(hessian_of_dog(stack), zip(*[hessian_of_dog(s) for s in stack])):
        np.testing.assert_array_equal(full, np.stack(layer))


def test_eigenvalues_match_numpy():
    rng = np.random.default_rng(2)
    Hrr, Hrc, Hcc = rng.normal(size=(3, 100))
    l1, l2 = hessian_eigenvalues(Hrr, Hrc, Hcc)
    ref = np.linalg.eigvalsh(np.stack([np.stack([Hrr, Hrc], -1), np.stack([Hrc, Hcc], -1)], -2))
    np.testing.assert_allclose(np.column_stack([l1, l2]), ref, atol=1e-12)
    assert np.all(l1 <= l2)


@pytest.mark.parametrize("rule", ["paper", "code"])
@pytest.mark.parametrize("h_thr", [0.1, 0.25, 1.4])
def test_hessian_mask_equals_constraint_of_hessian(rule, h_thr):
    dog = np.random.default_rng(3).normal(size=(2, 30, 25)).astype(np.float32)
    expected = hessian_constraint(*hessian_of_dog(dog), h_thr, rule=rule)
    np.testing.assert_array_equal(hessian_mask(dog, h_thr, rule=rule), expected)
    np.testing.assert_array_equal(hessian_mask(dog[0], h_thr, rule=rule), expected[0])


def test_invalid_arguments():
    with pytest.raises(ValueError, match="'nope'"):
        hessian_constraint(0.0, 0.0, 0.0, rule="nope")
    with pytest.raises(ValueError, match="nan"):
        hessian_constraint(0.0, 0.0, 0.0, float("nan"))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        hessian_of_dog(np.zeros(5))


@pytest.mark.parametrize("h_thr", [0.05, 0.25, 1.4, 5.0])
def test_kept_direction_fraction_of_the_code_rule_matches_its_saddle_limit(h_thr):
    # every bright blob (half the directions) plus the saddles with rho < rho*(h_thr)
    expected = 0.5 + 2 * math.atan(saddle_ratio_limit(h_thr)) / math.pi
    assert kept_direction_fraction(h_thr, rule="code", n=20001) == pytest.approx(expected, abs=1e-3)


def test_kept_direction_fraction_of_the_printed_rule():
    for h in (0.25, 1.4, 5.0):         # the bracket of Eq. 6 is always true: just tr H < 0
        assert kept_direction_fraction(h, rule="paper") == 1.0
    low = kept_direction_fraction(0.1, rule="paper")
    assert 0.5 < low < 1.0             # saddles kept, near-isotropic blobs removed
    assert kept_direction_fraction(0.2, rule="paper") < 1.0
    assert kept_direction_fraction(0.0, rule="code") == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="n must be"):
        kept_direction_fraction(1.4, n=0)
    with pytest.raises(ValueError, match="rule"):
        kept_direction_fraction(1.4, rule="other")
