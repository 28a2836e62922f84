"""Realism estimators (hdogreg.data.realism) on images whose answers are known."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from hdogreg.data import Annotation, Mammogram
from hdogreg.data.realism import (
    HIGH_BAND,
    LOW_BAND,
    REALISM_SPACING,
    breast_level,
    dog_snr,
    fine_scale_dog,
    radial_power,
    realism_breast_mask,
    realism_summary,
    resample_to,
    spectrum_realism,
    spectrum_stats,
    target_spectrum,
)
from hdogreg.data.synth import powerlaw_field
from hdogreg.data.synth.acquisition import _text

SIDE = 183  # the estimator's square: 25.6 mm at 0.14 mm


def _white(shape, seed, sd=1.0):
    return sd * np.random.default_rng(seed).standard_normal(shape)


def _ones(n):
    return np.ones((n, n), bool)


# ----------------------------------------------------------------------------- spectra
@pytest.mark.parametrize("beta", [2.5, 3.0])
def test_powerlaw_field_slope_is_recovered(beta):
    field = powerlaw_field((512, 512), beta, np.random.default_rng(0))
    s = spectrum_realism(field, REALISM_SPACING, mask=_ones(512))
    assert s["n_squares"] == 6
    assert s["beta"] == pytest.approx(beta, abs=0.25)
    assert s["beta_hi"] == pytest.approx(beta, abs=0.25)  # one power law over both bands
    assert abs(s["excess"]) < 0.15


@pytest.mark.parametrize("spacing,n", [(0.14, 512), (0.07, 1024)])
def test_white_noise_has_a_flat_spectrum(spacing, n):
    """White at 0.14 mm, and at 0.07 mm: a 2 x 2 block mean of white noise is white."""
    s = spectrum_realism(_white((n, n), 1), spacing, mask=_ones(n))
    assert s["n_squares"] == 6
    assert abs(s["beta"]) < 0.3 and abs(s["beta_hi"]) < 0.3
    assert abs(s["excess"]) < 0.15


def test_a_white_noise_floor_raises_the_high_frequency_excess():
    field = powerlaw_field((512, 512), 2.7, np.random.default_rng(0))
    floor = _white((512, 512), 10)
    stats = [spectrum_realism(field + a * floor, REALISM_SPACING, mask=_ones(512))
             for a in (0, 0.1, 0.2, 0.3)]
    excess = [s["excess"] for s in stats]
    assert abs(excess[0]) < 0.15                       # a pure power law has none
    assert np.all(np.diff(excess) > 0) and excess[-1] > 0.3
    assert np.all(np.diff([s["beta_hi"] for s in stats]) < 0)   # the floor flattens the high band
    for s in stats:                                    # and leaves the low band alone
        assert s["beta"] == pytest.approx(2.7, abs=0.25)


def _freq():
    return radial_power(np.zeros((SIDE, SIDE)), REALISM_SPACING)[0]


def test_spectrum_stats_exact_on_a_piecewise_power_law():
    f = _freq()
    beta, beta_hi, excess = 2.6, 1.9, 0.45
    p = f**-beta
    hi = f >= HIGH_BAND[0]
    # the high band: slope beta_hi, scaled so that its mean lies `excess` dex above the law
    sel = (f >= HIGH_BAND[0]) & (f <= HIGH_BAND[1])
    shape_hi = f**-beta_hi
    p[hi] = shape_hi[hi] * 10**excess * (f[sel] ** -beta).mean() / shape_hi[sel].mean()
    s = spectrum_stats(f, p)
    assert s["beta"] == pytest.approx(beta, abs=1e-9)
    assert s["beta_hi"] == pytest.approx(beta_hi, abs=1e-9)
    assert s["excess"] == pytest.approx(excess, abs=1e-9)
    assert f.max() == pytest.approx(0.5 / REALISM_SPACING, rel=0.01)   # up to Nyquist


def test_target_spectrum_round_trips_through_spectrum_stats():
    f = _freq()
    p = target_spectrum(f, 2.54, 1.93, 0.45)
    gap = (f > LOW_BAND[1]) & (f < HIGH_BAND[0])
    assert np.isnan(p[gap]).all() and np.isfinite(p[~gap]).all()
    s = spectrum_stats(f, p)
    assert s["beta"] == pytest.approx(2.54, abs=1e-6)
    assert s["beta_hi"] == pytest.approx(1.93, abs=1e-6)
    assert s["excess"] == pytest.approx(0.45, abs=0.02)


def test_spectrum_stats_needs_both_bands():
    f = _freq()
    low_only = f < 1.2
    with pytest.raises(ValueError, match="fewer than 3 frequency bins"):
        spectrum_stats(f[low_only], f[low_only] ** -2.5)


def test_radial_power_of_white_noise_is_its_variance_times_the_window_energy():
    n = 128
    ps = [radial_power(_white((n, n), k, sd=2.0), 0.1)[1] for k in range(8)]
    win = np.outer(np.hanning(n), np.hanning(n))
    level = np.mean(ps, axis=0)[5:] / (win**2).sum()
    assert np.median(level) == pytest.approx(4.0, rel=0.03)
    with pytest.raises(ValueError, match="square"):
        radial_power(np.zeros((8, 9)), 0.1)


def test_spectrum_realism_without_room_for_a_square_is_nan():
    s = spectrum_realism(_white((150, 150), 0), REALISM_SPACING, mask=np.ones((150, 150), bool))
    assert s["n_squares"] == 0 and np.isnan(s["beta"])


# ----------------------------------------------------------------------------- resampling
def test_resample_integer_ratio_is_an_exact_block_mean():
    img = np.random.default_rng(0).random((101, 67)).astype(np.float32)
    out, factor = resample_to(img, 0.07)
    manual = img[:100, :66].astype(np.float64).reshape(50, 2, 33, 2).mean(axis=(1, 3))
    assert factor == 2.0 and out.dtype == np.float64
    np.testing.assert_array_equal(out, manual)


def test_resample_same_spacing_is_a_copy():
    img = np.random.default_rng(0).random((20, 30))
    out, factor = resample_to(img, REALISM_SPACING)
    assert factor == 1.0 and out is not img
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("spacing,shape,expected", [(0.05, (280, 140), (100, 50)),
                                                   (0.1, (210, 140), (150, 100)),
                                                   (0.2, (70, 56), (100, 80))])
def test_resample_non_integer_ratio_has_the_expected_shape(spacing, shape, expected):
    img = np.full(shape, 0.3)
    out, factor = resample_to(img, spacing)
    assert factor == pytest.approx(REALISM_SPACING / spacing)
    assert out.shape == expected
    np.testing.assert_allclose(out, 0.3)            # intensities are preserved


@pytest.mark.parametrize("spacing,target", [(0.0, 0.14), (-0.07, 0.14), (0.07, 0.0), (float("nan"), 0.14)])
def test_resample_rejects_bad_spacings(spacing, target):
    with pytest.raises(ValueError, match="spacings must be > 0"):
        resample_to(np.zeros((4, 4)), spacing, target)


# ----------------------------------------------------------------------------- DoG-SNR
NOISE_SD = 0.01
BLOB_SIGMA = 1.5   # px at 0.07 mm: a 0.2 mm MC
BLOB_AT = [(96 + 80 * i, 96 + 80 * j) for i in range(4) for j in range(4)]


def _blobs(shape, centres, amps):
    img = np.zeros(shape)
    for (r, c), a in zip(centres, amps):
        img[r, c] = a
    return ndi.gaussian_filter(img, BLOB_SIGMA) * (2 * np.pi * BLOB_SIGMA**2)   # peak ~ a


def _noisy_flat(seed=3, shape=(512, 512)):
    return 0.5 + _white(shape, seed, NOISE_SD)


def _dog_kernel_norm():
    delta = np.zeros((41, 41))
    delta[20, 20] = 1
    return float(np.sqrt((fine_scale_dog(delta) ** 2).sum()))


def test_dog_background_of_white_noise_is_gaussian():
    img = _noisy_flat()
    d = dog_snr(img, 0.07, mask=np.ones(img.shape, bool))
    assert 2.8 < d["bg_tail"] < 3.5                         # Gaussian p99.9: 3.09
    # the 2 x 2 block mean halves the noise sd; the DoG scales it by its kernel norm
    assert d["sd"] == pytest.approx(NOISE_SD / 2 * _dog_kernel_norm(), rel=0.03)


def test_dog_sd_is_the_scaled_mad_over_the_eroded_interior():
    img = _noisy_flat() + _blobs((512, 512), BLOB_AT, [0.05] * 16)
    mask = np.zeros(img.shape, bool)
    mask[40:480, 60:500] = True
    d = dog_snr(img, 0.07, mask=mask, erode_px=10)
    dog = fine_scale_dog(resample_to(img, 0.07)[0])
    interior = ndi.binary_erosion(mask[::2, ::2], iterations=10)
    vals = dog[interior]
    assert d["sd"] == pytest.approx(1.4826 * np.median(np.abs(vals - np.median(vals))), rel=1e-12)
    assert d["bg_tail"] == pytest.approx(np.percentile(vals, 99.9) / d["sd"], rel=1e-12)


def test_bright_blobs_have_a_larger_snr_than_faint_ones():
    amps = [0.02, 0.2] * 8   # faint: twice the pixel noise sd; bright: ten times more
    img = _noisy_flat() + _blobs((512, 512), BLOB_AT, amps)
    d = dog_snr(img, 0.07, BLOB_AT, mask=np.ones(img.shape, bool))
    faint, bright = d["snr"][0::2], d["snr"][1::2]
    assert len(d["snr"]) == 16
    assert np.median(bright) > 5 * np.median(faint)
    assert bright.min() > d["bg_tail"] * 3                   # far above any background value
    empty = dog_snr(img, 0.07, [(56, 56), (460, 300)], mask=np.ones(img.shape, bool))["snr"]
    assert (empty < d["bg_tail"]).all()                      # no blob there: background


def test_dog_snr_is_linear_in_the_blob_amplitude():
    noise = _noisy_flat()
    unit = _blobs((512, 512), BLOB_AT, [1.0] * 16)   # noise shifts each SNR by ~1: keep it small
    snr = {k: dog_snr(noise + k * unit, 0.07, BLOB_AT, mask=np.ones(noise.shape, bool))["snr"]
           for k in (1, 2, 4)}
    assert np.median(snr[1]) > 100
    np.testing.assert_allclose(snr[2] / snr[1], 2, rtol=0.04)
    np.testing.assert_allclose(snr[4] / snr[1], 4, rtol=0.04)


def test_dog_snr_centroids_are_in_input_pixels():
    """A blob found at its centroid given at 0.07 mm, at any spacing of the input."""
    img = _noisy_flat() + _blobs((512, 512), [(200, 301)], [0.3])
    at = dog_snr(img, 0.07, [(200, 301), (200, 301 + 40)], mask=np.ones(img.shape, bool))["snr"]
    assert at[0] > 20 and at[1] < 5
    at14 = dog_snr(img[::2, ::2], 0.14, [(100, 150)], mask=np.ones((256, 256), bool))["snr"]
    assert at14[0] > 10


def test_dog_snr_without_interior_raises():
    img = _noisy_flat(shape=(64, 64))
    small = np.zeros(img.shape, bool)
    small[20:40, 20:40] = True
    with pytest.raises(ValueError, match="no breast interior"):
        dog_snr(img, 0.07, mask=small)
    assert np.isfinite(dog_snr(img, 0.07, mask=small, erode_px=0)["sd"])


def test_dog_snr_with_a_one_pixel_interior_raises_value_error():
    img = _noisy_flat(shape=(128, 128))
    mask = np.zeros(img.shape, bool)
    mask[20:82, 20:82] = True            # 31 x 31 px at 0.14 mm: eroding by 15 leaves 1 px
    assert ndi.binary_erosion(resample_to(mask.astype(float), 0.07)[0] > 0.5, iterations=15).sum() == 1
    with pytest.raises(ValueError):
        dog_snr(img, 0.07, mask=mask)


# ----------------------------------------------------------------------------- breast region, level
def _breast_phantom(shape=(400, 320), seed=0, level=0.1):
    """A raw-like (dark) breast with a soft periphery, air around it, at 0.07 mm."""
    H, W = shape
    yy, xx = np.mgrid[:H, :W]
    breast = ((yy - H / 2) ** 2 / (0.42 * H) ** 2 + xx**2 / (0.7 * W) ** 2) <= 1
    dist = ndi.distance_transform_edt(breast)
    t = np.sqrt(1 - (1 - np.clip(dist / (0.08 * W), 0, 1)) ** 2)
    rng = np.random.default_rng(seed)
    texture = 1 + 0.6 * ndi.gaussian_filter(rng.standard_normal(shape), 4)
    img = 0.005 + level * t * texture + 0.001 * rng.standard_normal(shape)
    return np.clip(img, 0, 1), breast


def test_realism_mask_and_level_ignore_a_collimation_band_and_a_label():
    img, truth = _breast_phantom()
    H, W = img.shape
    band = np.zeros(img.shape, bool)
    band[:16] = True
    img[band] = 0.95
    truth = truth & ~band
    glyphs = _text("LCC", 30)
    label = np.zeros(img.shape, bool)
    r0, c0 = H - glyphs.shape[0] - 30, W - glyphs.shape[1] - 10
    label[r0:r0 + glyphs.shape[0], c0:c0 + glyphs.shape[1]] = glyphs
    assert not (label & truth).any()
    img[label] = 0.9
    m = realism_breast_mask(img)
    assert not (m & band).any() and not (m & label).any()
    assert (m & ~truth).sum() == 0
    assert (m & truth).sum() > 0.95 * truth.sum()            # only the thinnest periphery is left out
    assert breast_level(img) == pytest.approx(np.median(img[truth]), rel=0.01)
    assert breast_level(img, truth) == np.median(img[truth])


def test_realism_mask_threshold_is_a_fraction_of_the_breast_range():
    img, truth = _breast_phantom(seed=1)
    m = realism_breast_mask(img, fraction=0.5)
    lo, hi = img.min(), np.percentile(img[truth], 99)
    assert img[m].min() > lo + 0.5 * (hi - lo)
    assert m.sum() < realism_breast_mask(img).sum()


def test_realism_mask_ignores_a_burnt_in_marker():
    img, truth = _breast_phantom((480, 400))
    yy, xx = np.ogrid[:480, :400]
    marker = (yy - 60) ** 2 + (xx - 360) ** 2 <= 23**2
    assert not (marker & ndi.binary_dilation(truth, iterations=20)).any()
    img[marker] = 0.95
    small = resample_to(img, 0.07)[0]
    truth14 = resample_to(truth.astype(float), 0.07)[0] > 0.5
    m = realism_breast_mask(small)
    assert (m & truth14).sum() > 0.95 * truth14.sum()


def test_realism_summary_one_row_per_image_and_pooled_snr():
    img, _ = _breast_phantom((600, 480))
    centres = [(300, 60), (250, 120), (350, 90)]
    img = img + _blobs(img.shape, centres, [0.05, 0.05, 0.05])
    big = Mammogram(img, 0.07, "big", "p1", "L", "CC",
                    [Annotation("point", np.array([c], float)) for c in centres], 1.0)
    small_img, _ = _breast_phantom((64, 64))       # no 15-px interior at 0.14 mm, no square
    small = Mammogram(small_img, 0.07, "small", "p2", "L", "CC",
                      [Annotation("point", np.array([[30.0, 10.0]]))], 4095.0)
    rows, snr = realism_summary([big, small])
    assert list(rows.file_id) == ["big", "small"] and rows.n_mcs.tolist() == [3, 1]
    assert rows.bits.tolist() == [1, 12]
    assert len(snr) == 3 and (snr > 5).all()       # the small image contributes no SNR
    assert np.isfinite(rows.bg_tail[0]) and np.isnan(rows.bg_tail[1])
    assert rows.n_squares[1] == 0 and np.isnan(rows.beta[1])
    assert rows.level[0] == pytest.approx(breast_level(img))
