import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.feature import blob_dog

from hdogreg.hdog import phantom
from hdogreg.scale_space import (
    as_unit_image,
    blob_overlap,
    disk_log_response,
    dog_peaks,
    dog_scale_space,
    gaussian_scale_space,
    local_maxima_3d,
    prune_blobs,
    scale_normalized_log,
    scale_sigmas,
)

PAPER = dict(sigma_min=1.18, sigma_max=3.1, k=1.6)


def gaussian_blob(shape, center, sigma, amplitude=0.3, background=0.2, dtype=np.float32):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    d2 = (rr - center[0]) ** 2 + (cc - center[1]) ** 2
    return (background + amplitude * np.exp(-d2 / (2 * sigma**2))).astype(dtype)


def many_blobs(seed=3, shape=(160, 150), n=40):
    rng = np.random.default_rng(seed)
    blobs = [(rng.uniform(3, shape[0] - 3), rng.uniform(3, shape[1] - 3), rng.uniform(1.0, 3.5),
              rng.uniform(0.02, 0.3)) for _ in range(n)]
    return phantom(shape, blobs=blobs, lines=[(5, 5, 150, 120, 1.2, 0.08)], background=0.25,
                   texture=0.01, noise=0.002, seed=seed)


# ----------------------------------------------------------------------------- scales


def test_paper_scales():
    g, d = scale_sigmas(**PAPER)
    np.testing.assert_allclose(g, [1.18, 1.888, 3.0208, 4.83328])
    np.testing.assert_allclose(d, g[:-1])


@pytest.mark.parametrize("smin,smax,k", [(1.0, 4.0, 1.6), (1.0, 2.56, 1.6), (2.0, 2.0, 1.3), (0.5, 8.0, 2.0)])
def test_dog_layers_cover_sigma_max(smin, smax, k):
    g, d = scale_sigmas(smin, smax, k)
    assert d[0] == smin and d[-1] <= smax * (1 + 1e-9) and g[-1] > smax
    np.testing.assert_allclose(g[1:] / g[:-1], k)


@pytest.mark.parametrize("kwargs,bad", [
    (dict(sigma_min=3.0, sigma_max=2.0, k=1.6), "2.0"),
    (dict(sigma_min=1.0, sigma_max=3.0, k=1.0), "1.0"),
    (dict(sigma_min=1.0, sigma_max=3.0, k=0.5), "0.5"),
    (dict(sigma_min=0.0, sigma_max=3.0, k=1.6), "0.0"),
    (dict(sigma_min=1.0, sigma_max=float("nan"), k=1.6), "nan"),
])
def test_invalid_scales_raise_with_value(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        scale_sigmas(**kwargs)
    with pytest.raises(ValueError, match=bad):
        dog_peaks(np.zeros((8, 8), np.float32), **kwargs)


@pytest.mark.parametrize("overlap", [-0.1, 1.5])
def test_invalid_overlap_raises(overlap):
    with pytest.raises(ValueError, match=str(overlap)):
        dog_peaks(np.zeros((8, 8), np.float32), overlap=overlap)


def test_exclude_border_true_is_rejected():
    with pytest.raises(ValueError, match="True"):
        dog_peaks(np.zeros((8, 8), np.float32), exclude_border=True)


# ----------------------------------------------------------------------------- intensities


def test_as_unit_image_scales_integers_and_checks_range():
    raw = np.array([[0, 16383]], dtype=np.uint16)
    np.testing.assert_allclose(as_unit_image(raw, 16383), [[0, 1]])
    np.testing.assert_allclose(as_unit_image(raw), [[0, 16383 / 65535]], rtol=1e-6)
    out = as_unit_image(np.array([[0.5]], dtype=np.float64))
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        as_unit_image(np.array([[0.0, 2.0]]))
    with pytest.raises(ValueError, match="intensity_scale"):
        as_unit_image(raw, 0)
    raw_copy = raw.copy()
    as_unit_image(raw, 16383)
    np.testing.assert_array_equal(raw, raw_copy)


# ----------------------------------------------------------------------------- scale space


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_scale_space_matches_scipy_bitwise(dtype):
    img = np.random.default_rng(0).random((37, 53)).astype(dtype)
    L = gaussian_scale_space(img, [1.18, 4.8])
    assert L.dtype == dtype and L.shape == (2, 37, 53)
    for i, s in enumerate([1.18, 4.8]):
        np.testing.assert_array_equal(L[i], ndi.gaussian_filter(img, s, mode="reflect", truncate=4.0))


def test_dog_sign_and_normalisation():
    img = gaussian_blob((41, 41), (20, 20), 2.0)
    dog, sigmas = dog_scale_space(img, **PAPER)
    assert dog.shape == (3, 41, 41) and dog.dtype == np.float32
    assert np.all(dog[:, 20, 20] > 0)           # bright blob -> positive (maxima)
    g, _ = scale_sigmas(**PAPER)
    L = gaussian_scale_space(img, g)
    for n in range(3):                          # Eq. 4 with the sign flipped
        np.testing.assert_allclose(dog[n], (L[n] - L[n + 1]) * g[n] / (g[n + 1] - g[n]),
                                   rtol=1e-5, atol=1e-7)


def test_dog_approximates_scale_normalised_log():
    img = gaussian_blob((61, 61), (30, 30), 2.5)
    dog, sigmas = dog_scale_space(img, 2.0, 2.0, 1.01)
    log = scale_normalized_log(img, 2.0)
    err = np.abs(dog[0] - log).max() / np.abs(log).max()
    assert err < 0.02


def test_flat_and_ramp_have_zero_dog_inside():
    rr, cc = np.mgrid[:64, :64]
    ramp = (0.2 + 0.004 * rr + 0.002 * cc).astype(np.float32)
    dog, _ = dog_scale_space(ramp, **PAPER)
    assert np.abs(dog[:, 25:40, 25:40]).max() < 1e-6


def test_disk_response_peaks_at_r_over_sqrt2():
    sig = np.linspace(0.5, 8, 3001)
    for r in (2.0, 4.0, 7.0):
        assert sig[np.argmax(disk_log_response(r, sig))] == pytest.approx(r / math.sqrt(2), abs=0.01)
    # numerically on a rendered disk
    r = 6.0
    rr, cc = np.mgrid[:81, :81]
    disk = ((rr - 40) ** 2 + (cc - 40) ** 2 <= r * r).astype(np.float64)
    sig = np.linspace(2.5, 6.5, 41)
    centre = [scale_normalized_log(disk, s)[40, 40] for s in sig]
    assert sig[int(np.argmax(centre))] == pytest.approx(r / math.sqrt(2), abs=0.35)


# ----------------------------------------------------------------------------- peaks


def test_local_maxima_match_maximum_filter():
    stack = np.random.default_rng(1).random((3, 30, 40)).astype(np.float32)
    peaks, trivial = local_maxima_3d(stack, 0.5)
    ref = (stack == ndi.maximum_filter(stack, size=3, mode="nearest")) & (stack > 0.5)
    np.testing.assert_array_equal(peaks, ref)
    assert not trivial
    assert local_maxima_3d(np.ones((2, 4, 4)), 0.0)[1]


@pytest.mark.parametrize("sigma", [1.2, 1.9, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_blob_detected_at_its_scale(sigma, dtype):
    img = gaussian_blob((48, 52), (23, 27), sigma, dtype=dtype)
    blobs = dog_peaks(img, **PAPER, dog_threshold=0.006)
    assert blobs.shape == (1, 3)
    assert tuple(blobs[0, :2]) == (23, 27)
    _, sigmas = scale_sigmas(**PAPER)
    step = abs(np.searchsorted(sigmas, blobs[0, 2]) - np.argmin(np.abs(np.log(sigmas / sigma))))
    assert step <= 1


@pytest.mark.parametrize("amplitude", [0.05, 0.15, 0.4])
def test_dark_blob_is_not_a_blob(amplitude):
    img = gaussian_blob((40, 40), (20, 20), 2.0, amplitude=-amplitude, background=0.5)
    blobs = dog_peaks(img, **PAPER)
    # at most its bright surround (DoG ring of ~7% of the contrast) can fire, never the blob
    assert np.all(np.hypot(blobs[:, 0] - 20, blobs[:, 1] - 20) > 2 * 2.0)
    if amplitude * 0.07 < 0.006:
        assert len(blobs) == 0


@pytest.mark.parametrize("img", [
    np.full((40, 40), 0.4, np.float32),                                         # flat
    (0.3 + 0.002 * np.mgrid[:40, :40][1]).astype(np.float32),                   # gentle ramp
], ids=["flat", "ramp"])
def test_nothing_detected(img):
    blobs = dog_peaks(img, **PAPER)
    assert blobs.shape == (0, 3)


def test_steep_ramp_only_fires_at_the_reflected_border():
    ramp = (0.1 + 0.01 * np.mgrid[:40, :40][1]).astype(np.float32)
    assert len(dog_peaks(ramp, **PAPER)) > 0                 # the roof made by mode="reflect"
    assert dog_peaks(ramp, **PAPER, exclude_border=2).shape == (0, 3)


@pytest.mark.parametrize("overlap", [1.0, 0.5, 0.1, 0.0])
@pytest.mark.parametrize("exclude_border", [False, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_agrees_with_skimage_blob_dog(overlap, exclude_border, dtype):
    img = many_blobs().astype(dtype)
    ours = dog_peaks(img, 1.18, 3.1, 1.6, 0.006, overlap, exclude_border=exclude_border)
    ref = blob_dog(img, 1.18, 3.1, 1.6, 0.006, overlap, exclude_border=exclude_border)
    assert ours.shape == ref.shape and len(ours) > 20
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("k", [1.3, 2.0])
def test_agrees_with_skimage_other_steps(k):
    img = many_blobs(seed=5)
    ours = dog_peaks(img, 1.0, 4.0, k, 0.01, 0.5)
    ref = blob_dog(img, 1.0, 4.0, k, 0.01, 0.5)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_blob_overlap_matches_skimage():
    from skimage.feature.blob import _blob_overlap

    rng = np.random.default_rng(2)
    b1 = np.column_stack([rng.uniform(0, 10, 200), rng.uniform(0, 10, 200), rng.uniform(0.5, 4, 200)])
    b2 = np.column_stack([rng.uniform(0, 10, 200), rng.uniform(0, 10, 200), rng.uniform(0.5, 4, 200)])
    ref = [_blob_overlap(x, y) for x, y in zip(b1, b2)]
    np.testing.assert_allclose(blob_overlap(b1, b2), ref, atol=1e-12)


def test_prune_removes_the_smaller_blob():
    blobs = np.array([[10.0, 10.0, 3.0], [10.0, 11.0, 1.5], [40.0, 40.0, 2.0]])
    np.testing.assert_array_equal(prune_blobs(blobs, 0.5), blobs[[0, 2]])
    np.testing.assert_array_equal(prune_blobs(blobs, 1.0), blobs)
    assert prune_blobs(np.empty((0, 3)), 0.5).shape == (0, 3)
