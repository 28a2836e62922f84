"""`hdogreg.data.stats`: spectra, power-law fits and MC measurements on images of known content."""

import numpy as np
import pytest

from hdogreg.data.stats import (
    breast_interior,
    fit_power_law,
    measure_mcs,
    radial_power_spectrum,
    spectral_slope,
)
from hdogreg.data.synth import powerlaw_field


def test_fit_power_law_recovers_an_exact_power_law_and_ignores_bins_outside_the_range():
    freq = np.linspace(0.05, 2.0, 60)
    power = 7.0 * freq**-2.5
    power[freq > 0.8] = 1.0                     # outside the fit range: must not matter
    beta, log_a = fit_power_law(freq, power, (0.1, 0.6))
    assert beta == pytest.approx(2.5) and log_a == pytest.approx(np.log(7.0))
    with pytest.raises(ValueError, match="fewer than 3 frequency bins"):
        fit_power_law(freq, power, (0.1, 0.11))


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_spectral_slope_of_a_power_law_field_is_its_exponent(beta):
    img = powerlaw_field((512, 512), beta, np.random.default_rng(0))
    assert spectral_slope(img, 0.07) == pytest.approx(beta, abs=0.3)


def test_white_noise_is_flat_and_frequencies_scale_with_the_spacing():
    img = np.random.default_rng(1).normal(size=(256, 256))
    freq, power = radial_power_spectrum(img, 0.07, patch=128)
    assert freq.max() == pytest.approx(0.5 / 0.07, rel=0.05)   # up to Nyquist, cycles/mm
    assert abs(fit_power_law(freq, power, (0.5, 6.0))[0]) < 0.2
    freq2, power2 = radial_power_spectrum(img, 0.14, patch=128)
    np.testing.assert_allclose(freq2, freq / 2)


def test_mask_selects_the_patches():
    img = np.zeros((256, 512))
    img[:, 256:] = powerlaw_field((256, 256), 3.0, np.random.default_rng(2))
    left = np.zeros(img.shape, bool)
    left[:, :256] = True
    _, flat = radial_power_spectrum(img, mask=left, patch=128)
    assert np.allclose(flat, 0)                 # only the empty half was used
    with pytest.raises(ValueError):
        radial_power_spectrum(img, mask=np.zeros(img.shape, bool), patch=128)


def test_breast_interior_leaves_out_a_rim():
    img = np.zeros((200, 200), np.float32)
    img[20:180, 20:180] = 0.5
    inner = breast_interior(img, 0.1, margin_mm=2.0)     # 20 px at 0.1 mm
    rows = np.flatnonzero(inner.any(axis=1))
    assert rows.min() == pytest.approx(40, abs=2) and rows.max() == pytest.approx(159, abs=2)


def test_measure_mcs_size_and_contrast():
    img = np.full((60, 60), 0.2)
    labels = np.zeros((60, 60), np.int32)
    rr, cc = np.mgrid[:60, :60]
    disc = (rr - 20) ** 2 + (cc - 20) ** 2 <= 9                  # 29 px
    img[disc] = 0.5
    labels[disc] = 1
    img[40, 40] = 0.3                                            # a point annotation next to its peak
    img[41, 40] = 0.35
    labels[40, 40] = 2
    t = measure_mcs(img, labels, 0.07)
    assert t["mc_id"].tolist() == [1, 2]
    assert t["area_px"].tolist() == [29, 1]
    assert t["diameter_mm"][0] == pytest.approx(2 * np.sqrt(29 / np.pi) * 0.07)
    assert t["contrast"].tolist() == pytest.approx([0.3, 0.15])   # peak minus ring median
