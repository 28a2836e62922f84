import numpy as np
import pytest
import torch

from hdogreg.fusion import fuse
from hdogreg.hdog import hdog_segment, phantom
from hdogreg.pipeline import (MC_COLUMNS, SegmentParams, fusion_region, mc_table, overlay_image,
                              segment_mammogram)


class Ones(torch.nn.Module):
    """Stand-in network predicting 1 everywhere (every candidate in the region is kept)."""

    def forward(self, x):
        return torch.ones_like(x)


BLOBS = [(40, 40, 1.5, 0.25), (40, 150, 1.5, 0.25), (100, 100, 2.0, 0.3)]


@pytest.fixture(scope="module")
def image():
    return phantom((140, 200), blobs=BLOBS, background=0.3)


def small_params(**kw):
    return SegmentParams(window=64, stride=32, batch_size=8, breast_erosion=0, **kw)


def test_segment_keeps_only_candidates_inside_the_region(image):
    breast = np.zeros(image.shape, bool)
    breast[:, :120] = True                        # blob at column 150 lies outside
    res = segment_mammogram(image, Ones(), small_params(p_thr=0.5), breast=breast,
                            progress=False)
    assert res.hdog.n_objects >= 3
    assert np.all(res.pmap[~breast] == 0) and np.all(res.pmap[breast] == 1)
    centres = res.table[["y", "x"]].to_numpy()
    assert len(res.table) == res.fusion.n_objects == 2
    np.testing.assert_allclose(np.sort(centres[:, 1]), [40, 100], atol=1)
    assert not res.mask[:, 120:].any()
    # Same as composing the stages by hand.
    expected = fuse(hdog_segment(image).labels, res.pmap, 0.5, 0.3)
    np.testing.assert_array_equal(res.labels, expected.labels)
    # All candidates with their scores, for FROC sweeps: the outside blob scores 0.
    cand = res.candidates()
    assert cand.n_objects == res.hdog.n_objects
    assert sorted(cand.scores.tolist()) == [0.0, 1.0, 1.0]


def test_segment_breast_erosion_drops_skin_line_candidates(image):
    breast = np.zeros(image.shape, bool)
    breast[:, :170] = True
    res = segment_mammogram(image, Ones(), small_params(p_thr=0.5).replace(breast_erosion=45),
                            breast=breast, progress=False)
    # Eroded by 22 px from the boundary at column 170: the blob at column 150 is dropped.
    assert not res.region[:, 148:].any() and res.region[:, :147].all()
    assert len(res.table) == 2


def test_segment_accepts_mammogram_like_and_uses_its_spacing(image):
    class Mg:
        pass

    mg = Mg()
    mg.image, mg.pixel_spacing = image, 0.1
    res = segment_mammogram(mg, Ones(), small_params(p_thr=0.5), breast=np.ones(image.shape, bool),
                            progress=False)
    assert res.pixel_spacing == 0.1
    np.testing.assert_allclose(res.table["area_mm2"], res.table["area_px"] * 0.01)


def test_segment_default_breast_mask(image):
    pytest.importorskip("hdogreg.breast")
    res = segment_mammogram(image, Ones(), small_params(), progress=False)
    assert res.breast.shape == image.shape and res.breast.dtype == bool


def test_segment_bad_breast_shape(image):
    with pytest.raises(ValueError, match="breast mask shape"):
        segment_mammogram(image, Ones(), small_params(), breast=np.ones((3, 3), bool),
                          progress=False)


def test_params_defaults_are_the_papers():
    p = SegmentParams()
    assert (p.sigma_min, p.sigma_max, p.k, p.dog_threshold, p.overlap, p.h_thr) == (
        1.18, 3.1, 1.6, 0.006, 1.0, 1.4)
    assert p.o_thr == 0.3 and p.p_thr == pytest.approx(10 ** -3.5)
    assert (p.window, p.stride, p.breast_erosion) == (512, 256, 45)
    with pytest.raises(ValueError, match="o_thr"):
        SegmentParams(o_thr=2)
    with pytest.raises(ValueError, match="breast_erosion"):
        SegmentParams(breast_erosion=-1)


def test_fusion_region_erodes_by_a_square_but_not_at_the_image_border():
    breast = np.zeros((60, 60), bool)
    breast[:, :40] = True
    region = fusion_region(breast, 11)
    assert region[:, :35].all() and not region[:, 35:].any()   # 5 px = (11 - 1) / 2
    np.testing.assert_array_equal(fusion_region(breast, 0), breast)


def test_mc_table_measures_known_objects():
    labels = np.zeros((20, 30), np.int32)
    labels[2:4, 3:7] = 1                        # 2 x 4 rectangle
    labels[10, 20] = 2                          # single pixel
    image = np.zeros((20, 30), np.float32)
    image[2:4, 3:7] = 0.5
    image[10, 20] = 0.8
    t = mc_table(labels, image, 0.07, [0.9, 0.2])
    assert list(t.columns) == MC_COLUMNS
    np.testing.assert_array_equal(t["label"], [1, 2])
    np.testing.assert_allclose(t["x"], [4.5, 20])
    np.testing.assert_allclose(t["y"], [2.5, 10])
    np.testing.assert_array_equal(t["area_px"], [8, 1])
    np.testing.assert_allclose(t["area_mm2"], [8 * 0.0049, 0.0049])
    # Ellipse with the same second moments: axis = 4 sqrt((n^2 - 1) / 12) for n pixels.
    np.testing.assert_allclose(t["major_axis_mm"][0], 4 * np.sqrt(15 / 12) * 0.07, rtol=1e-6)
    np.testing.assert_allclose(t["minor_axis_mm"][0], 4 * np.sqrt(3 / 12) * 0.07, rtol=1e-6)
    np.testing.assert_allclose(t["mean_intensity"], [0.5, 0.8], rtol=1e-6)
    np.testing.assert_allclose(t["score"], [0.9, 0.2])


def test_mc_table_empty_and_errors():
    t = mc_table(np.zeros((5, 5), np.int32), np.zeros((5, 5)), 0.07, [])
    assert list(t.columns) == MC_COLUMNS and len(t) == 0
    assert t["area_px"].dtype == np.int64 and t["score"].dtype == np.float64
    assert np.isnan(mc_table(np.ones((2, 2), np.int32), np.zeros((2, 2)), 0.07)["score"][0])
    with pytest.raises(ValueError, match="scores"):
        mc_table(np.ones((2, 2), np.int32), np.zeros((2, 2)), 0.07, [1, 2])
    with pytest.raises(ValueError, match="pixel_spacing"):
        mc_table(np.ones((2, 2), np.int32), np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="shape"):
        mc_table(np.ones((2, 3), np.int32), np.zeros((2, 2)), 0.07)


def test_overlay_outlines_objects_in_red():
    image = np.full((12, 12), 0.4, np.float32)
    image[:, 6:] = 0.6
    labels = np.zeros((12, 12), np.int32)
    labels[5:7, 5:7] = 1
    rgb = overlay_image(image, labels)
    assert rgb.shape == (12, 12, 3) and rgb.dtype == np.uint8
    red = (rgb[..., 0] == 255) & (rgb[..., 1] == 0) & (rgb[..., 2] == 0)
    assert red[4, 5] and red[7, 6] and red[5, 4]   # ring around the object
    assert not red[labels > 0].any()                # the object itself stays visible
    assert red.sum() == 12
    grey = rgb[~red]
    assert np.all(grey[:, 0] == grey[:, 1]) and grey[:, 0].min() < grey[:, 0].max()
