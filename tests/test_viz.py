import numpy as np
import pytest

from hdogreg.viz import display_range, richest_window


def test_richest_window_finds_the_cluster():
    m = np.zeros((100, 120), bool)
    m[70:74, 90:95] = True          # the cluster
    m[5, 5] = True                  # a lone pixel
    rows, cols = richest_window(m, 16)
    assert rows.stop - rows.start == 16 and cols.stop - cols.start == 16
    assert m[rows, cols].sum() == 20


def test_richest_window_clips_to_image():
    rows, cols = richest_window(np.ones((10, 8), bool), 32)
    assert (rows, cols) == (slice(0, 10), slice(0, 8))


def test_richest_window_validates():
    with pytest.raises(ValueError, match="size"):
        richest_window(np.ones((4, 4), bool), 0)


def test_display_range_uses_mask():
    img = np.zeros((10, 10)); img[:5] = 1.0
    lo, hi = display_range(img, img > 0.5)
    assert lo == hi - 1e-6 or lo == pytest.approx(1.0)
