import numpy as np
import pytest

from hdogreg.proximity import points_to_mask, proximity_function, proximity_map

ALPHAS = [-2.0, -1.0, 1e-4, 1.0, 2.0]


def eq8(r, xi, alpha):
    """Eq. 8 written out literally, for comparison."""
    return np.where(r <= xi, (np.exp(alpha * (1 - r / xi)) - 1) / (np.exp(alpha) - 1), 0.0)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("xi", [6.0, 10.0, 12.0])
def test_matches_eq8_at_chosen_radii(xi, alpha):
    r = np.array([0.0, 1.0, xi / 3, xi / 2, xi - 0.5, xi, xi + 0.1, 3 * xi])
    np.testing.assert_allclose(proximity_function(r, xi, alpha), eq8(r, xi, alpha), atol=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS + [0.0, -1e-12])
def test_one_at_point_zero_beyond_xi_monotone(alpha):
    r = np.linspace(0, 15, 301)
    g = proximity_function(r, 10, alpha)
    assert g[0] == pytest.approx(1.0)
    assert np.all(g[r >= 10] == 0)
    assert np.all(np.diff(g) <= 1e-7)
    assert np.all((g >= 0) & (g <= 1))


def test_alpha_zero_is_linear_limit():
    r = np.array([0.0, 2.5, 5.0, 7.5, 10.0])
    np.testing.assert_allclose(proximity_function(r, 10, 0.0), 1 - r / 10, atol=1e-7)
    np.testing.assert_allclose(proximity_function(r, 10, 1e-4), 1 - r / 10, atol=1e-4)


def test_alpha_sign_changes_curvature():
    # alpha > 0 is peaked (below the linear cone), alpha < 0 a plateau (above it).
    r = np.array([5.0])
    assert proximity_function(r, 10, 2.0)[0] < 0.5 < proximity_function(r, 10, -2.0)[0]


@pytest.mark.parametrize("xi", [0, -1, np.inf, np.nan])
def test_invalid_xi_is_a_clear_error(xi):
    with pytest.raises(ValueError, match="xi must be"):
        proximity_function([0.0], xi=xi)
    with pytest.raises(ValueError, match="xi must be"):
        proximity_map(np.ones((3, 3), bool), xi=xi)


def test_negative_distance_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        proximity_function([-1.0])


def test_map_is_max_over_points_brute_force():
    rng = np.random.default_rng(0)
    shape = (40, 50)
    pts = rng.integers(0, [40, 50], size=(6, 2))
    mask = points_to_mask(pts, shape)
    P = proximity_map(mask, xi=8, alpha=1.0)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    brute = np.max([eq8(np.hypot(rr - r, cc - c), 8, 1.0) for r, c in pts], axis=0)
    np.testing.assert_allclose(P, brute, atol=1e-6)
    assert P.dtype == np.float32


def test_contour_pixels_all_count():
    mask = np.zeros((30, 30), bool)
    mask[10:20, 10:20] = True
    P = proximity_map(mask, xi=5, alpha=1.0)
    assert np.all(P[mask] == 1)
    assert P[15, 22] == pytest.approx(eq8(np.array(3.0), 5, 1.0), abs=1e-6)
    assert P[0, 0] == 0


def test_empty_mask_gives_zeros_and_input_untouched():
    mask = np.zeros((5, 6), bool)
    before = mask.copy()
    P = proximity_map(mask)
    assert P.shape == (5, 6) and not P.any()
    np.testing.assert_array_equal(mask, before)


def test_points_outside_image_rejected():
    with pytest.raises(ValueError, match="outside"):
        points_to_mask([[2, 3], [10, 1]], (5, 5))
