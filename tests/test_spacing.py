"""Pixel-spacing checks and resampling to the native 0.07 mm grid."""

import numpy as np
import pytest

from hdogreg.spacing import (
    NATIVE_SPACING,
    check_pixel_spacing,
    is_native,
    labels_to_input,
    native_shape,
    nearest_resize,
    to_native,
)


@pytest.mark.parametrize("value", [0.02, 0.05, 0.07, 0.1, 0.14, 0.5, np.float32(0.085), 1 / 10])
def test_plausible_spacings_pass(value):
    assert check_pixel_spacing(value) == pytest.approx(float(value))


@pytest.mark.parametrize("value, message", [
    (70, r"pixel_spacing = 70 mm per pixel is implausible .*µm/mm mix-up\? 70 µm = 0\.07 mm"),
    (0.0007, r"pixel_spacing = 0\.0007 mm per pixel is implausible .*0\.02-0\.5 mm.*mix-up"),
    (7e-5, r"7e-05 m = 0\.07 mm"),
    (0.6, r"implausible .*in mm per pixel"),
    (np.nan, r"pixel_spacing must be a finite number"),
    (np.inf, r"pixel_spacing must be a finite number"),
    (-np.inf, r"pixel_spacing must be a finite number"),
    (0, r"pixel_spacing must be > 0 mm"),
    (-0.07, r"pixel_spacing must be > 0 mm"),
    ("abc", r"pixel_spacing must be a number .*'abc'"),
    (None, r"pixel_spacing must be a number"),
])
def test_implausible_spacings_refused_with_a_clear_message(value, message):
    with pytest.raises(ValueError, match=message):
        check_pixel_spacing(value)


def test_check_names_the_value():
    with pytest.raises(ValueError, match=r"^a\.dcm: PixelSpacing = 70 mm"):
        check_pixel_spacing(70, name="a.dcm: PixelSpacing")
    with pytest.raises(ValueError, match=r"^70 mm per pixel"):
        check_pixel_spacing(70, name="")


def test_to_native_is_a_no_op_at_the_native_spacing():
    img = np.random.default_rng(0).random((33, 47)).astype(np.float32)
    for s in (0.07, 0.07 + 5e-7, 0.07 - 5e-7):
        assert is_native(s)
        out = to_native(img, s)
        assert out is img                       # not even copied
    assert not is_native(0.0701)
    assert to_native(img, 0.0701) is not img


@pytest.mark.parametrize("spacing, shape", [(0.1, (200, 286)), (0.14, (280, 400)),
                                            (0.05, (100, 143)), (0.035, (70, 100))])
def test_to_native_shape_keeps_the_physical_size(spacing, shape):
    img = np.full((140, 200), 0.25, np.float32)
    out = to_native(img, spacing)
    assert out.shape == shape == native_shape(img.shape, spacing)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.25, rtol=1e-6)       # a flat image stays flat
    assert native_shape(img.shape, spacing, native=spacing) == img.shape


def test_to_native_keeps_positions_and_the_input_range():
    # A blob at (row 30, col 50) of a 0.14 mm image is at 2c + 0.5 on the 0.07 mm grid.
    rr, cc = np.mgrid[:80, :100]
    img = (0.2 + 0.6 * np.exp(-((rr - 30) ** 2 + (cc - 50) ** 2) / (2 * 1.5 ** 2))).astype(np.float32)
    out = to_native(img, 0.14)
    w = out - out.min()
    r2, c2 = np.mgrid[:out.shape[0], :out.shape[1]]
    assert (w * r2).sum() / w.sum() == pytest.approx(60.5, abs=0.05)
    assert (w * c2).sum() / w.sum() == pytest.approx(100.5, abs=0.05)
    assert out.min() >= img.min() and out.max() <= img.max()   # cubic overshoot clipped


def test_to_native_anti_aliases_when_shrinking():
    # The finest checkerboard of a 0.05 mm image cannot exist at 0.07 mm: it must average out
    # rather than alias into a coarse pattern of full contrast (plain resampling keeps it).
    from skimage.transform import resize

    checker = (np.indices((140, 140)).sum(axis=0) % 2).astype(np.float64)
    out = to_native(checker, 0.05)
    assert out.shape == (100, 100) and out.dtype == np.float64
    assert out.std() < 0.15 * checker.std()
    assert resize(checker, (100, 100), order=3, anti_aliasing=True).std() > 0.4 * checker.std()
    assert out.mean() == pytest.approx(0.5, abs=1e-9)
    # An integer ratio is the block mean (a detector with 2 x 2 larger pixels).
    img = np.random.default_rng(0).random((40, 60)).astype(np.float32)
    block = img.reshape(20, 2, 30, 2).mean(axis=(1, 3))
    out = to_native(img, 0.035)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, block, rtol=1e-6)


def test_to_native_refuses_implausible_spacings():
    with pytest.raises(ValueError, match="spacing = 70 mm per pixel is implausible"):
        to_native(np.zeros((4, 4)), 70)


def _scattered_objects(shape, n, seed, gap):
    """Labels 1..n: small squares (1-3 px side) with at least `gap` background px between."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    cell = 3 + gap
    cells = [(r, c) for r in range(0, shape[0] - cell, cell) for c in range(0, shape[1] - cell, cell)]
    for lab, k in enumerate(rng.choice(len(cells), n, replace=False), start=1):
        r, c = cells[k]
        side = int(rng.integers(1, 4))
        dr, dc = rng.integers(0, 4 - side, size=2)
        labels[r + dr:r + dr + side, c + dc:c + dc + side] = lab
    return labels


def _centroids(labels, n):
    from scipy import ndimage as ndi

    return np.array(ndi.center_of_mass(labels > 0, labels, np.arange(1, n + 1)))


@pytest.mark.parametrize("input_shape", [(100, 140), (143, 200), (60, 84), (280, 400)])
def test_labels_map_back_onto_the_input_grid(input_shape):
    native = _scattered_objects((200, 280), 120, seed=1, gap=6)
    out = labels_to_input(native, input_shape)
    assert out.shape == input_shape and out.dtype == native.dtype
    # Ids preserved: the same ids, nothing new, every object kept (they are well apart).
    assert set(np.unique(out)) == set(np.unique(native))
    # Each object's centroid lands within one input pixel of its native centroid mapped onto
    # the input grid ((c + 0.5) * n_in / n_native - 0.5).
    scale = np.array(input_shape) / np.array(native.shape)
    expected = (_centroids(native, 120) + 0.5) * scale - 0.5
    got = _centroids(out, 120)
    assert np.abs(got - expected).max() <= 1.0


def test_objects_smaller_than_an_input_pixel_keep_one_pixel():
    native = np.zeros((8, 8), np.int32)
    native[0, 0] = 1           # nearest sampling (rows/cols 1, 3, 5, 7 at half size) misses it
    native[4:8, 4:8] = 2
    native[2, 6] = 3           # also missed; its input pixel (1, 3) is free
    out = labels_to_input(native, (4, 4))
    assert out[0, 0] == 1 and out[1, 3] == 3
    assert (out == 1).sum() == 1 and (out == 2).sum() == 4
    # Two one-pixel objects sharing an input pixel: only the one sampled survives.
    native = np.zeros((4, 4), np.int32)
    native[1, 1], native[0, 0] = 1, 2
    assert labels_to_input(native, (2, 2)).tolist() == [[1, 0], [0, 0]]


def test_labels_to_input_upsampling_is_pixel_replication():
    native = np.array([[0, 1], [2, 0]], np.uint16)
    out = labels_to_input(native, (4, 6))
    assert out.dtype == np.uint16
    assert out.tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 0, 0, 0]] * 2
    np.testing.assert_array_equal(labels_to_input(native, (2, 2)), native)


def test_labels_to_input_errors():
    with pytest.raises(ValueError, match="integer label image"):
        labels_to_input(np.zeros((4, 4)), (2, 2))
    with pytest.raises(ValueError, match=">= 0"):
        labels_to_input(-np.ones((4, 4), int), (2, 2))
    with pytest.raises(ValueError, match="shape must be positive"):
        nearest_resize(np.zeros((4, 4), int), (0, 2))


def test_native_spacing_is_the_papers():
    assert NATIVE_SPACING == 0.07
