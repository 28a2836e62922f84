import numpy as np
import pytest
import torch

from hdogreg.fusion import fuse
from hdogreg.hdog import hdog_segment, phantom
from hdogreg.pipeline import (
    MC_TABLE_COLUMNS,
    SegmentParams,
    fusion_region,
    mc_table,
    overlay_image,
    segment_mammogram,
)


class Ones(torch.nn.Module):
    """Stand-in network predicting 1 everywhere (every candidate in the region is kept)."""

    def forward(self, x):
        return torch.ones_like(x)


BLOBS = [(40, 40, 1.5, 0.25), (40, 150, 1.5, 0.25), (100, 100, 2.0, 0.3)]


@pytest.fixture(scope="module")
def image():
    return phantom((140, 200), blobs=BLOBS, background=0.3)


def small_params(**kw):
    # the phantom is noise-free: no fine-scale noise to standardise by, so the raw scale
    return SegmentParams(window=64, stride=32, batch_size=8, breast_erosion=0, normalize="none",
                         **kw)


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
    assert p.hessian_rule == "code"   # the authors' reading of Eq. 6, as hdog_segment's default
    assert p.hdog_kwargs() == {"sigma_min": 1.18, "sigma_max": 3.1, "k": 1.6, "dog_threshold": 0.006,
                               "overlap": 1.0, "h_thr": 1.4, "hessian_rule": "code"}
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
    assert list(t.columns) == MC_TABLE_COLUMNS
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
    assert list(t.columns) == MC_TABLE_COLUMNS and len(t) == 0
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


# ----------------------------------------------------------------------------- pixel spacing

SPACING_BLOBS = BLOBS + [(90, 30, 2.5, 0.2), (20, 100, 1.8, 0.15)]


@pytest.fixture(scope="module")
def image07():
    """A 0.07 mm phantom with five blobs (and faint noise) of even size for 2x2 binning."""
    return phantom((140, 200), blobs=SPACING_BLOBS, background=0.3, noise=0.003, seed=1)


def _by_hand(image, breast, params):
    from hdogreg.inference import predict_proximity

    hdog = hdog_segment(image, **params.hdog_kwargs())
    pmap = predict_proximity(Ones(), image, mask=breast, progress=False, **params.inference_kwargs())
    region = fusion_region(breast, params.breast_erosion)
    fused = fuse(hdog.labels, np.where(region, pmap, np.float32(0)), params.p_thr, params.o_thr)
    return fused, mc_table(fused.labels, image, 0.07, fused.scores)


def test_native_spacing_takes_no_resampling_path(image07, monkeypatch):
    import pandas as pd

    from hdogreg import spacing

    params = small_params(p_thr=0.5).replace(breast_erosion=5)
    breast = np.zeros(image07.shape, bool)
    breast[:, :170] = True
    fused, table = _by_hand(image07, breast, params)

    def refuse(*args, **kwargs):
        raise AssertionError("resampling at the native spacing")

    for name in ("to_native", "nearest_resize", "labels_to_input"):
        monkeypatch.setattr(spacing, name, refuse)
    for s in (None, 0.07, 0.07 + 5e-7):
        res = segment_mammogram(image07, Ones(), params, breast=breast, pixel_spacing=s,
                                progress=False)
        assert not res.resampled and res.output is res.fusion and res.native_breast is res.breast
        assert res.pixel_spacing == pytest.approx(0.07, abs=1e-6) and res.native_spacing == 0.07
        np.testing.assert_array_equal(res.labels, fused.labels)
        np.testing.assert_array_equal(res.mask, fused.mask)
        np.testing.assert_array_equal(res.fusion.scores, fused.scores)
        if s != 0.07 + 5e-7:      # (its table has areas in its own 0.0700005 mm)
            pd.testing.assert_frame_equal(res.table, table, check_exact=True)
        assert res.candidates().labels.shape == image07.shape


def test_image_at_014_mm_is_reported_in_its_own_pixels(image07):
    params = small_params(p_thr=0.5)
    r07 = segment_mammogram(image07, Ones(), params, breast=np.ones(image07.shape, bool),
                            progress=False)
    small = image07.reshape(70, 2, 100, 2).mean(axis=(1, 3))     # the same breast at 0.14 mm
    r14 = segment_mammogram(small, Ones(), params, breast=np.ones(small.shape, bool),
                            pixel_spacing=0.14, progress=False)
    assert len(r07.table) == 5 and r14.resampled
    # Input grid: labels, mask, breast, candidates; native grid: the branches and the fusion.
    for a in (r14.labels, r14.mask, r14.breast, r14.candidates().labels):
        assert a.shape == small.shape
    for a in (r14.hdog.labels, r14.pmap, r14.region, r14.native_breast, r14.fusion.labels):
        assert a.shape == image07.shape
    ids = set(np.unique(r14.labels)) - {0}
    assert ids == set(r14.table["label"]) and ids <= set(range(1, r14.fusion.n_objects + 1))
    np.testing.assert_array_equal(r14.mask, r14.labels > 0)
    # Centroids in the 0.14 mm grid's pixels: (c - 0.5) / 2 of the 0.07 mm ones, within a pixel.
    t07 = r07.table.sort_values(["y", "x"]).reset_index(drop=True)
    t14 = r14.table.sort_values(["y", "x"]).reset_index(drop=True)
    assert len(t14) == len(t07)
    for col in ("x", "y"):
        np.testing.assert_allclose(t14[col], (t07[col] - 0.5) / 2, atol=1.0)
    # Areas in mm^2 of the input's pixels, comparable to the 0.07 mm measurement.
    np.testing.assert_allclose(t14["area_mm2"], t14["area_px"] * 0.14 ** 2)
    np.testing.assert_allclose(t14["area_mm2"], t07["area_mm2"], rtol=0.5)
    assert t14["area_mm2"].sum() == pytest.approx(t07["area_mm2"].sum(), rel=0.25)
    np.testing.assert_allclose(t14["major_axis_mm"], t07["major_axis_mm"], rtol=0.5)
    # Intensities measured on the input image.
    np.testing.assert_allclose(
        t14["mean_intensity"],
        [small[r14.labels == lab].mean() for lab in t14["label"]], rtol=1e-6)


def test_finer_image_and_its_breast_mask(image07):
    from hdogreg.spacing import to_native

    params = small_params(p_thr=0.5)
    r07 = segment_mammogram(image07, Ones(), params, breast=np.ones(image07.shape, bool),
                            progress=False)
    fine = to_native(image07, 0.07, native=0.05)                 # the same breast at 0.05 mm
    breast = np.zeros(fine.shape, bool)
    breast[:, :170] = True                                       # blob at col 150 * 1.4 = 210 is out
    res = segment_mammogram(fine, Ones(), params, breast=breast, pixel_spacing=0.05,
                            progress=False)
    assert res.labels.shape == fine.shape == (196, 280)
    assert res.breast is breast and res.native_breast.shape == image07.shape
    assert not res.mask[:, 170:].any()
    t07 = r07.table[r07.table["x"] < 120].sort_values(["y", "x"]).reset_index(drop=True)
    t05 = res.table.sort_values(["y", "x"]).reset_index(drop=True)
    assert len(t05) == len(t07) == 4
    for col in ("x", "y"):
        np.testing.assert_allclose(t05[col], (t07[col] + 0.5) * 1.4 - 0.5, atol=1.0)
    np.testing.assert_allclose(t05["area_mm2"], t05["area_px"] * 0.05 ** 2)
    np.testing.assert_allclose(t05["area_mm2"], t07["area_mm2"], rtol=0.5)


@pytest.mark.parametrize("bad", [70, 0.0007, np.nan, np.inf, 0])
def test_segment_refuses_implausible_spacings(image, bad):
    with pytest.raises(ValueError, match="pixel_spacing"):
        segment_mammogram(image, Ones(), small_params(), pixel_spacing=bad, progress=False)


# ----------------------------------------------------------------------------- standardisation


class Bright(torch.nn.Module):
    """Stand-in network whose map depends on the intensity: 1 well above the reference level."""

    def forward(self, x):
        from hdogreg.standardize import REFERENCE_LEVEL

        return torch.sigmoid((x - REFERENCE_LEVEL - 0.01) * 1000)


@pytest.fixture(scope="module")
def sim_image():
    from hdogreg.data.synth import synth_mammogram

    sim = synth_mammogram(0, (480, 384), count_model="dense")
    return (sim.raw / (2 ** sim.bits - 1)).astype(np.float32)


def sim_params(**kw):
    return SegmentParams(window=128, stride=128, batch_size=8, p_thr=0.5, **kw)


@pytest.fixture(scope="module", params=[Ones, Bright], ids=["ones", "bright"])
def sim_reference(request, sim_image):
    model = request.param()
    return model, segment_mammogram(sim_image, model, sim_params(normalize="noise"),
                                    progress=False)


@pytest.mark.parametrize("a, b", [(0.25, 0.0), (4.0, 0.0), (0.25, 0.05), (4.0, 0.05)])
def test_standardised_segmentation_is_invariant_to_affine_intensity(sim_image, sim_reference,
                                                                    a, b):
    model, ref = sim_reference
    assert ref.fusion.n_objects >= 3
    res = segment_mammogram(a * sim_image + b, model, sim_params(normalize="noise"),
                            progress=False)
    np.testing.assert_array_equal(res.breast, ref.breast)
    np.testing.assert_array_equal(res.labels, ref.labels)          # exactly the same objects
    np.testing.assert_array_equal(res.fusion.scores, ref.fusion.scores)
    # Intensities are still measured on the input image.
    np.testing.assert_allclose(res.table["mean_intensity"], a * ref.table["mean_intensity"] + b,
                               rtol=1e-5)


def test_raw_scale_segmentation_moves_with_intensity(sim_image):
    ref = segment_mammogram(sim_image, Ones(), sim_params(normalize="none"), progress=False)
    low = segment_mammogram(0.25 * sim_image, Ones(), sim_params(normalize="none"),
                            progress=False)
    assert ref.fusion.n_objects >= 3
    assert not np.array_equal(low.labels, ref.labels)


def test_normalize_none_is_the_raw_computation(sim_image, monkeypatch):
    from hdogreg import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("standardised with normalize='none'")

    monkeypatch.setattr(pipeline, "standardize", refuse)
    breast = np.ones(sim_image.shape, bool)
    params = sim_params(normalize="none").replace(breast_erosion=5)
    res = segment_mammogram(sim_image, Ones(), params, breast=breast, progress=False)
    fused, _ = _by_hand(sim_image, breast, params)
    np.testing.assert_array_equal(res.labels, fused.labels)


def test_both_branches_see_the_standardised_image(sim_image, monkeypatch):
    from hdogreg import hdog, pipeline
    from hdogreg.standardize import standardize, standardize_breast_mask

    seen = {}
    real_hdog, real_predict = hdog.hdog_segment, pipeline.predict_proximity

    def spy_hdog(image, **kw):
        seen["hdog"] = np.array(image)
        return real_hdog(image, **kw)

    def spy_predict(model, image, **kw):
        seen["net"] = np.array(image)
        return real_predict(model, image, **kw)

    monkeypatch.setattr(hdog, "hdog_segment", spy_hdog)
    monkeypatch.setattr(pipeline, "predict_proximity", spy_predict)
    img = 0.25 * sim_image
    res = segment_mammogram(img, Ones(), sim_params(normalize="noise"), progress=False)
    expected = standardize(img, standardize_breast_mask(img))
    np.testing.assert_array_equal(res.breast, standardize_breast_mask(img))
    np.testing.assert_array_equal(seen["hdog"], expected)
    np.testing.assert_array_equal(seen["net"], expected)


def test_normalize_is_validated_and_checked_against_the_checkpoint(image):
    from hdogreg.pipeline import check_checkpoint_normalize

    with pytest.raises(ValueError, match="normalize must be one of .*'zscore'"):
        SegmentParams(normalize="zscore")
    assert SegmentParams().normalize == "noise"
    check_checkpoint_normalize({}, SegmentParams(normalize="none"))   # old checkpoints: raw
    check_checkpoint_normalize({"normalize": "noise"}, SegmentParams(normalize="noise"))
    with pytest.raises(ValueError, match="trained with normalize='noise'"):
        segment_mammogram(image, Ones(), small_params(), settings={"normalize": "noise"},
                          breast=np.ones(image.shape, bool), progress=False)
