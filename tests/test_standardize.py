"""Tests of hdogreg.standardize: the per-image intensity standardisation."""

import numpy as np
import pytest

from hdogreg.standardize import (
    DEFAULT_METHOD,
    REFERENCE_LEVEL,
    REFERENCE_NOISE,
    check_method,
    equalizing_lut,
    fine_scale_noise,
    noise_curve,
    resampling_noise_factor,
    standardize,
    standardize_breast_mask,
)


@pytest.fixture(scope="module")
def sim_image():
    from hdogreg.data.synth import synth_mammogram

    sim = synth_mammogram(0, (480, 384), count_model="dense")
    return (sim.raw / (2 ** sim.bits - 1)).astype(np.float32)


@pytest.fixture(scope="module")
def sim_reference(sim_image):
    return standardize(sim_image, method="noise"), standardize_breast_mask(sim_image)


@pytest.mark.parametrize("a", [0.25, 4.0])
@pytest.mark.parametrize("b", [0.0, 0.05])
def test_noise_method_is_invariant_to_affine_maps(sim_image, sim_reference, a, b):
    ref, ref_breast = sim_reference
    out = standardize(a * sim_image + b, method="noise")  # float32 input, default breast mask
    assert out.dtype == np.float32 and out.shape == sim_image.shape
    # Float32 rounding of the input, amplified by REFERENCE_NOISE / (a s) ~ 1: tiny.
    assert np.abs(out - ref).max() < 1e-5
    np.testing.assert_array_equal(standardize_breast_mask(a * sim_image + b), ref_breast)


def test_noise_method_maps_level_and_noise_to_the_references(sim_image):
    breast = standardize_breast_mask(sim_image)
    out = standardize(sim_image, breast, method="noise")
    assert np.median(out[breast]) == pytest.approx(REFERENCE_LEVEL, abs=1e-6)
    assert fine_scale_noise(out, breast) == pytest.approx(REFERENCE_NOISE, rel=1e-4)


def test_references_keep_the_transform_near_identity_on_14_bit_images(sim_image):
    # The reference values were measured on 14-bit synthetic images like this one.
    breast = standardize_breast_mask(sim_image)
    gain = REFERENCE_NOISE / fine_scale_noise(sim_image, breast)
    assert 0.5 < gain < 2
    assert abs(np.median(sim_image[breast]) - REFERENCE_LEVEL) < 0.05


def test_none_is_the_identity(sim_image):
    out = standardize(sim_image, method="none")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, sim_image)
    img64 = np.linspace(0, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(standardize(img64, method="none"), img64.astype(np.float32))


def test_constant_image_raises():
    with pytest.raises(ValueError, match="constant image"):
        standardize(np.full((40, 40), 0.3))
    with pytest.raises(ValueError, match="noise is 0"):
        standardize(np.full((40, 40), 0.3), np.ones((40, 40), bool))


def test_bad_method_and_mask():
    with pytest.raises(ValueError, match="method must be one of .*'zscore'"):
        standardize(np.zeros((8, 8)), method="zscore")
    with pytest.raises(ValueError, match="normalize must be one of"):
        check_method(None, "normalize")
    with pytest.raises(ValueError, match="breast mask shape"):
        standardize(np.random.default_rng(0).random((8, 8)), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="mask is empty"):
        fine_scale_noise(np.zeros((8, 8)), np.zeros((8, 8), bool))


def test_fine_scale_noise_scales_with_contrast_and_falls_back_when_erosion_empties():
    rng = np.random.default_rng(1)
    img = rng.normal(0.3, 0.01, (64, 64))
    s = fine_scale_noise(img)
    assert s > 0
    assert fine_scale_noise(3 * img - 1, None) == pytest.approx(3 * s, rel=1e-9)
    small = np.zeros((64, 64), bool)
    small[30:34, 30:34] = True                      # emptied by the erosion: measured as is
    assert fine_scale_noise(img, small) > 0


# ------------------------------------------------------------------ noise equalisation


def test_the_default_is_a_method_and_the_pipeline_uses_it():
    from hdogreg.pipeline import SegmentParams
    from hdogreg.training import TrainConfig

    assert check_method(DEFAULT_METHOD) == DEFAULT_METHOD
    assert check_method("equalize") == "equalize"
    assert SegmentParams().normalize == TrainConfig().normalize == DEFAULT_METHOD


@pytest.mark.parametrize("a", [0.25, 4.0])
@pytest.mark.parametrize("b", [0.0, 0.05])
def test_equalize_is_invariant_to_affine_maps(sim_image, a, b):
    ref = standardize(sim_image, method="equalize")
    out = standardize(a * sim_image + b, method="equalize")
    assert out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-5


def test_equalize_maps_the_breast_median_to_the_reference_level(sim_image):
    breast = standardize_breast_mask(sim_image)
    out = standardize(sim_image, breast, method="equalize")
    assert np.median(out[breast]) == pytest.approx(REFERENCE_LEVEL, abs=1e-6)


@pytest.mark.parametrize("name", ["gamma0.7", "gamma1.4", "8bit"])
def test_equalize_flattens_the_noise_at_every_grey_level(sim_image, name):
    from hdogreg.perturb import perturb

    breast = standardize_breast_mask(sim_image)
    img = perturb(sim_image, name)
    _, eq = noise_curve(standardize(img, breast, method="equalize"), breast, n_bins=8)
    _, glob = noise_curve(standardize(img, breast, method="noise"), breast, n_bins=8)
    # the synthetic quantum noise grows with the signal: a global gain leaves that
    assert glob.max() / glob.min() > 1.3
    np.testing.assert_allclose(eq / REFERENCE_NOISE, 1.0, atol=0.06)


def test_equalize_keeps_the_number_of_hdog_candidates_under_gamma():
    from hdogreg.data.synth import synth_mammogram
    from hdogreg.hdog import hdog_segment
    from hdogreg.perturb import perturb
    from hdogreg.pipeline import SegmentParams

    sim = synth_mammogram(1, (640, 512), count_model="dense")
    img = (sim.raw / (2 ** sim.bits - 1)).astype(np.float32)
    breast = standardize_breast_mask(img)
    kwargs = SegmentParams().hdog_kwargs()

    def count(method, name):
        return int(hdog_segment(standardize(perturb(img, name), breast, method=method),
                                **kwargs).labels.max())

    glob = [count("noise", n) for n in ("original", "gamma0.7", "gamma1.4")]
    eq = [count("equalize", n) for n in ("original", "gamma0.7", "gamma1.4")]
    assert max(glob) / min(glob) > 1.8          # measured 33 / 21 / 45
    assert max(eq) / min(eq) < 1.25             # measured 21 / 21 / 20


def test_noise_curve_merges_equal_levels_of_a_quantised_image():
    img = np.repeat(np.arange(4) / 4.0, 2500).reshape(100, 100)
    levels, noise = noise_curve(img, n_bins=16)
    assert np.all(np.diff(levels) > 0)
    assert levels.shape == noise.shape and (noise >= 0).all()
    with pytest.raises(ValueError, match="n_bins"):
        noise_curve(img, n_bins=0)
    with pytest.raises(ValueError, match="empty"):
        noise_curve(img, np.zeros(img.shape, bool))


def test_equalizing_lut_integrates_the_inverse_noise():
    levels = np.array([0.0, 1.0])
    x, g = equalizing_lut(levels, np.array([0.01, 0.02]), 0.0, 1.0, n_points=1001)
    assert np.all(np.diff(g) > 0)
    # sigma(t) = 0.01 (1 + t): g(1) = ln(2) / 0.01
    assert g[-1] == pytest.approx(np.log(2) / 0.01, rel=1e-5)
    # a vanishing noise is floored at 0.25 x the median instead of blowing up
    _, g0 = equalizing_lut(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.01, 0.01]), 0, 1,
                           n_points=11)
    assert np.isfinite(g0).all() and np.diff(g0).max() <= 0.1 / (0.25 * 0.01) + 1e-9
    with pytest.raises(ValueError, match="median fine-scale noise"):
        equalizing_lut(levels, np.zeros(2), 0, 1)


# ----------------------------------------------------------------------------- noise_psd


def test_resampling_noise_factor_measures_what_resampling_does_to_white_noise():
    from hdogreg.spacing import to_native

    assert resampling_noise_factor(0.07) == 1.0
    assert resampling_noise_factor(0.14) == resampling_noise_factor(0.14)      # seeded, cached
    rng = np.random.default_rng(7)                  # another draw than the function's own
    for spacing in (0.05, 0.1, 0.14):
        coarse = rng.standard_normal((int(700 * 0.07 / spacing),) * 2)
        up = to_native(coarse, spacing)
        same_psd = rng.standard_normal(up.shape) * (spacing / 0.07)
        whole = np.ones(up.shape, bool)
        ratio = fine_scale_noise(up, whole) / fine_scale_noise(same_psd, whole)
        assert resampling_noise_factor(spacing) == pytest.approx(ratio, rel=0.02), spacing
    assert resampling_noise_factor(0.14) < resampling_noise_factor(0.1) < 1.0
    with pytest.raises(ValueError, match="spacing"):
        resampling_noise_factor(70.0)


def test_noise_psd_is_noise_on_native_images_and_corrects_resampled_ones(sim_image, sim_reference):
    ref, breast = sim_reference
    np.testing.assert_array_equal(standardize(sim_image, method="noise_psd"), ref)
    np.testing.assert_array_equal(standardize(sim_image, method="noise_psd", source_spacing=0.07), ref)
    np.testing.assert_array_equal(standardize(sim_image, source_spacing=0.14), ref)   # "noise" ignores it
    psd = standardize(sim_image, method="noise_psd", source_spacing=0.14)
    f = resampling_noise_factor(0.14)
    inside = breast & (ref > 0) & (ref < 1)        # away from the [0, 1] clip
    np.testing.assert_allclose(psd[inside] - REFERENCE_LEVEL, f * (ref[inside] - REFERENCE_LEVEL),
                               rtol=1e-4, atol=1e-6)


def test_noise_psd_reaches_the_pipeline_and_the_training_patches(sim_image):
    from hdogreg.data.synth.pool import PoolImage
    from hdogreg.pipeline import native_input
    from hdogreg.spacing import to_native
    from hdogreg.training import PatchDataset

    coarse = to_native(sim_image, 0.07, native=0.14)
    a = native_input(coarse, "noise", pixel_spacing=0.14).image
    b = native_input(coarse, "noise_psd", pixel_spacing=0.14).image
    inside = (a > 0) & (a < 1) & (b > 0) & (b < 1) & (np.abs(a - REFERENCE_LEVEL) > 1e-3)
    ratio = (b[inside] - REFERENCE_LEVEL) / (a[inside] - REFERENCE_LEVEL)
    assert np.median(ratio) == pytest.approx(resampling_noise_factor(0.14), rel=1e-3)
    labels = np.zeros(sim_image.shape, np.int32)
    labels[100:103, 100:103] = 1
    pool = [PoolImage(image=sim_image, labels=labels, pixel_spacing=0.07, file_id="x", patient_id="x",
                      vendor="siemens", source_spacing=s, look=False) for s in (0.07, 0.14)]
    first = [PatchDataset([m], 10, 1, 64, 64, normalize="noise_psd")[0][0] for m in pool]
    plain = PatchDataset([pool[1]], 10, 1, 64, 64, normalize="noise")[0][0]
    assert np.array_equal(first[0].numpy(), plain.numpy())          # native: the same as "noise"
    assert not np.array_equal(first[1].numpy(), plain.numpy())      # from 0.14 mm: corrected
