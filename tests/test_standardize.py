"""Tests of hdogreg.standardize: the per-image intensity standardisation."""

import numpy as np
import pytest

from hdogreg.standardize import (
    REFERENCE_LEVEL,
    REFERENCE_NOISE,
    check_method,
    fine_scale_noise,
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
    return standardize(sim_image), standardize_breast_mask(sim_image)


@pytest.mark.parametrize("a", [0.25, 4.0])
@pytest.mark.parametrize("b", [0.0, 0.05])
def test_noise_method_is_invariant_to_affine_maps(sim_image, sim_reference, a, b):
    ref, ref_breast = sim_reference
    out = standardize(a * sim_image + b)          # float32 input, default breast mask
    assert out.dtype == np.float32 and out.shape == sim_image.shape
    # Float32 rounding of the input, amplified by REFERENCE_NOISE / (a s) ~ 1: tiny.
    assert np.abs(out - ref).max() < 1e-5
    np.testing.assert_array_equal(standardize_breast_mask(a * sim_image + b), ref_breast)


def test_noise_method_maps_level_and_noise_to_the_references(sim_image):
    breast = standardize_breast_mask(sim_image)
    out = standardize(sim_image, breast)
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
