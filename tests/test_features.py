"""Tests for hdogreg.features: the 31 case-study features on shapes with known answers."""

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk, ellipse
from skimage.transform import rotate

from hdogreg.features import (
    FEATURE_NAMES,
    FEATURE_UNITS,
    INDIVIDUAL_PROPERTIES,
    REGIONAL_FEATURES,
    individual_features,
    regional_features,
    roi_features,
    segmentation_labels,
)

SPACING = 0.07


def _disk(r=20, shape=(128, 128), center=(64, 64)):
    mask = np.zeros(shape, bool)
    mask[disk(center, r, shape=shape)] = True
    return mask


def _ellipse(a_rows, b_cols, shape=(160, 160), rotation=0.0):
    mask = np.zeros(shape, bool)
    c = (shape[0] // 2, shape[1] // 2)
    mask[ellipse(c[0], c[1], a_rows, b_cols, shape=shape, rotation=rotation)] = True
    return mask


def test_names_and_units():
    assert len(REGIONAL_FEATURES) == 17
    assert len(INDIVIDUAL_PROPERTIES) == 7
    assert len(FEATURE_NAMES) == 31 == len(set(FEATURE_NAMES))
    assert set(FEATURE_UNITS) == set(FEATURE_NAMES)
    assert FEATURE_UNITS["region_area_mm2"] == "mm^2"
    assert FEATURE_UNITS["mc_major_axis_mm_std"] == "mm"
    assert FEATURE_UNITS["region_hu_3"] == "1"


@pytest.mark.parametrize("r", [12, 20, 30])
def test_disk_area_and_eccentricity(r):
    mask = _disk(r)
    f = regional_features(mask, pixel_spacing=SPACING)
    assert f["area_mm2"] == pytest.approx(mask.sum() * SPACING**2)
    assert f["area_mm2"] == pytest.approx(np.pi * r**2 * SPACING**2, rel=0.04)
    assert f["eccentricity"] < 0.05
    assert f["solidity"] == pytest.approx(1.0, abs=0.03)
    # convex hull of a digital disk covers it: slightly larger, close to pi r^2
    assert f["area_mm2"] <= f["convex_area_mm2"] <= f["area_mm2"] * 1.1
    assert f["major_axis_mm"] == pytest.approx(2 * r * SPACING, rel=0.03)
    assert f["minor_axis_mm"] == pytest.approx(2 * r * SPACING, rel=0.03)
    # principal moments of a disk: r^2 / 4 each
    assert f["inertia_1_mm2"] == pytest.approx((r * SPACING) ** 2 / 4, rel=0.05)
    assert f["inertia_2_mm2"] == pytest.approx((r * SPACING) ** 2 / 4, rel=0.05)
    assert f["n_mcs"] == 1


def test_ellipse_axes_and_eccentricity():
    a, b = 15, 45  # semi-axes: rows, columns -> elongated horizontally
    f = regional_features(_ellipse(a, b), pixel_spacing=SPACING)
    assert f["major_axis_mm"] == pytest.approx(2 * b * SPACING, rel=0.02)
    assert f["minor_axis_mm"] == pytest.approx(2 * a * SPACING, rel=0.03)
    assert f["eccentricity"] == pytest.approx(np.sqrt(1 - (a / b) ** 2), abs=0.01)
    assert f["inertia_1_mm2"] == pytest.approx((b * SPACING) ** 2 / 4, rel=0.03)
    assert f["inertia_2_mm2"] == pytest.approx((a * SPACING) ** 2 / 4, rel=0.05)
    assert f["inertia_1_mm2"] > f["inertia_2_mm2"]


def test_units_scale_with_pixel_spacing():
    mask = _ellipse(10, 25)
    f1 = regional_features(mask, pixel_spacing=1.0)
    f2 = regional_features(mask, pixel_spacing=0.5)
    assert f2["area_mm2"] == pytest.approx(f1["area_mm2"] * 0.25)
    assert f2["convex_area_mm2"] == pytest.approx(f1["convex_area_mm2"] * 0.25)
    assert f2["major_axis_mm"] == pytest.approx(f1["major_axis_mm"] * 0.5)
    assert f2["inertia_2_mm2"] == pytest.approx(f1["inertia_2_mm2"] * 0.25)
    for name in ("eccentricity", "solidity", "orientation_deg", *[f"hu_{i}" for i in range(1, 8)]):
        assert f2[name] == pytest.approx(f1[name])


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: _ellipse(8, 40), 0.0),  # along the columns: horizontal
        (lambda: _ellipse(40, 8), 90.0),  # along the rows: vertical
        (lambda: np.fliplr(np.eye(60, dtype=bool)), 45.0),  # bottom-left -> top-right
        (lambda: np.eye(60, dtype=bool), -45.0),  # top-left -> bottom-right
    ],
)
def test_orientation_is_wrt_horizontal(make, expected):
    f = regional_features(make(), pixel_spacing=SPACING)
    assert -90 < f["orientation_deg"] <= 90
    assert f["orientation_deg"] == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize("angle", [90, 30, 45])
def test_hu_moments_invariant_under_rotation(angle):
    mask = _ellipse(12, 36, shape=(161, 161))
    # add an asymmetric second object so that the higher-order moments are not ~0
    mask[40:50, 100:130] = True
    rotated = rotate(mask.astype(float), angle, order=0, preserve_range=True) > 0.5
    assert rotated.sum() == pytest.approx(mask.sum(), rel=0.02)
    h0 = regional_features(mask, pixel_spacing=SPACING)[[f"hu_{i}" for i in range(1, 8)]]
    h1 = regional_features(rotated, pixel_spacing=SPACING)[[f"hu_{i}" for i in range(1, 8)]]
    # log-scaled comparison of the invariants (they span orders of magnitude)
    log0 = -np.sign(h0) * np.log10(np.abs(h0))
    log1 = -np.sign(h1) * np.log10(np.abs(h1))
    tol = 1e-6 if angle == 90 else 0.05
    assert np.allclose(log0[:4], log1[:4], rtol=tol, atol=tol)
    if angle == 90:  # exact rotation of the pixel grid: all seven agree
        np.testing.assert_allclose(h0, h1, rtol=1e-8, atol=1e-14)
    # the second moments of inertia are rotation invariant too
    f0 = regional_features(mask, pixel_spacing=SPACING)
    f1 = regional_features(rotated, pixel_spacing=SPACING)
    assert f1["inertia_1_mm2"] == pytest.approx(f0["inertia_1_mm2"], rel=0.03)


def test_hu_moments_are_scale_invariant():
    small = regional_features(_ellipse(10, 30), pixel_spacing=SPACING)
    large = regional_features(_ellipse(20, 60, shape=(200, 200)), pixel_spacing=SPACING)
    for i in (1, 2):
        assert large[f"hu_{i}"] == pytest.approx(small[f"hu_{i}"], rel=0.03)


@pytest.mark.parametrize("connectivity, expected", [(1, 4), (2, 3)])
def test_count_of_objects(connectivity, expected):
    mask = np.zeros((40, 40), bool)
    mask[2:5, 2:5] = True
    mask[10:14, 20:30] = True
    mask[30, 30] = True
    mask[31, 31] = True  # diagonal neighbour: separate only with 4-connectivity
    f = regional_features(mask, pixel_spacing=SPACING, connectivity=connectivity)
    assert f["n_mcs"] == expected
    assert f["area_mm2"] == pytest.approx((9 + 40 + 2) * SPACING**2)
    # regional features describe the union: the hull spans all objects
    assert f["convex_area_mm2"] > 5 * f["area_mm2"]
    assert f["solidity"] < 0.2


def test_label_image_used_as_given():
    labels = np.zeros((20, 20), np.int32)
    labels[2:6, 2:6] = 1
    labels[2:6, 6:10] = 7  # touching, but a different label -> a different MC
    assert regional_features(labels, pixel_spacing=SPACING)["n_mcs"] == 2
    assert regional_features(labels > 0, pixel_spacing=SPACING)["n_mcs"] == 1
    table = individual_features(labels, np.ones((20, 20)), pixel_spacing=SPACING)
    assert table["label"].tolist() == [1, 7]


def test_individual_features_known_values():
    labels = np.zeros((60, 60), np.int32)
    labels[disk((15, 15), 6)] = 1
    labels[ellipse(40, 40, 4, 12)] = 2
    image = np.zeros((60, 60))
    image[labels == 1] = 0.5
    image[labels == 2] = np.linspace(0.2, 0.8, (labels == 2).sum())
    t = individual_features(labels, image, pixel_spacing=SPACING)
    assert list(t.columns) == ["label", *INDIVIDUAL_PROPERTIES]
    assert len(t) == 2
    assert t.loc[0, "area_mm2"] == pytest.approx((labels == 1).sum() * SPACING**2)
    assert t.loc[0, "eccentricity"] < 0.1
    assert t.loc[0, ["intensity_min", "intensity_mean", "intensity_max"]].tolist() == pytest.approx(
        [0.5, 0.5, 0.5]
    )
    assert t.loc[1, "intensity_min"] == pytest.approx(0.2)
    assert t.loc[1, "intensity_max"] == pytest.approx(0.8)
    assert t.loc[1, "intensity_mean"] == pytest.approx(0.5)
    assert t.loc[1, "major_axis_mm"] == pytest.approx(24 * SPACING, rel=0.05)
    assert t.loc[1, "minor_axis_mm"] == pytest.approx(8 * SPACING, rel=0.1)


def test_roi_features_aggregation():
    labels = np.zeros((60, 60), np.int32)
    labels[5:9, 5:9] = 1  # 16 px
    labels[20:24, 20:28] = 2  # 32 px
    labels[40:42, 40:42] = 3  # 4 px
    image = np.where(labels > 0, labels / 10.0, 0.0)
    f = roi_features(labels, image, pixel_spacing=SPACING)
    assert isinstance(f, pd.Series)
    assert list(f.index) == list(FEATURE_NAMES)
    areas = np.array([16, 32, 4]) * SPACING**2
    assert f["mc_area_mm2_mean"] == pytest.approx(areas.mean())
    assert f["mc_area_mm2_std"] == pytest.approx(areas.std(ddof=0))
    assert f["mc_intensity_max_mean"] == pytest.approx(0.2)
    assert f["region_n_mcs"] == 3
    assert f["region_area_mm2"] == pytest.approx(areas.sum())
    assert not f.isna().any()


def test_single_object_has_zero_std():
    f = roi_features(_disk(5, shape=(32, 32), center=(16, 16)), np.ones((32, 32)), pixel_spacing=SPACING)
    stds = f[[n for n in FEATURE_NAMES if n.endswith("_std")]]
    assert len(stds) == 7
    assert (stds == 0).all()


def test_single_pixel_is_defined():
    mask = np.zeros((16, 16), bool)
    mask[8, 8] = True
    f = roi_features(mask, np.full((16, 16), 0.3), pixel_spacing=SPACING)
    assert f["region_area_mm2"] == pytest.approx(SPACING**2)
    assert f["region_n_mcs"] == 1
    assert f["region_solidity"] == pytest.approx(1.0)
    assert f["mc_intensity_mean_mean"] == pytest.approx(0.3)


@pytest.mark.parametrize("dtype", [bool, np.int32, np.uint8])
def test_empty_segmentation_gives_missing_values(dtype):
    mask = np.zeros((32, 32), dtype)
    f = roi_features(mask, np.random.default_rng(0).random((32, 32)), pixel_spacing=SPACING)
    assert len(f) == 31
    assert f.isna().all()  # missing, not zeros
    t = individual_features(mask, np.zeros((32, 32)), pixel_spacing=SPACING)
    assert len(t) == 0 and list(t.columns) == ["label", *INDIVIDUAL_PROPERTIES]


def test_inputs_not_modified():
    mask = _disk(6, shape=(32, 32), center=(16, 16))
    image = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    m0, i0 = mask.copy(), image.copy()
    roi_features(mask, image, pixel_spacing=SPACING)
    assert np.array_equal(mask, m0) and np.array_equal(image, i0)


def test_validation_errors():
    mask = np.zeros((8, 8), bool)
    with pytest.raises(ValueError, match="pixel_spacing"):
        roi_features(mask, np.zeros((8, 8)), pixel_spacing=0)
    with pytest.raises(ValueError, match=r"\(8, 9\)"):
        roi_features(mask, np.zeros((8, 9)), pixel_spacing=SPACING)
    with pytest.raises(ValueError, match="float64"):
        segmentation_labels(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="connectivity"):
        segmentation_labels(mask, connectivity=3)
    with pytest.raises(ValueError, match="-1"):
        segmentation_labels(np.full((8, 8), -1))
