import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from skimage.feature import blob_dog
from skimage.segmentation import flood

from hdogreg import hdog as hdog_module
from hdogreg.hdog import BLOB_COLUMNS, HDoGResult, hdog_segment, phantom
from hdogreg.hessian import hessian_eigenvalues, hessian_mask, hessian_of_dog
from hdogreg.scale_space import dog_peaks, dog_scale_space, scale_sigmas

PAPER = dict(sigma_min=1.18, sigma_max=3.1, k=1.6)


def textured(seed=3, shape=(120, 110), n=30):
    rng = np.random.default_rng(seed)
    blobs = [(rng.uniform(3, shape[0] - 3), rng.uniform(3, shape[1] - 3), rng.uniform(1.0, 3.5),
              rng.uniform(0.02, 0.3)) for _ in range(n)]
    return phantom(shape, blobs=blobs, lines=[(5, 5, 110, 90, 1.2, 0.08)], background=0.25,
                   texture=0.004, noise=0.001, seed=seed)


def reference(image, rule="paper", connectivity=1, **kw):
    """The straightforward algorithm: blob_dog, then one flood fill per blob."""
    params = {**PAPER, "dog_threshold": 0.006, "overlap": 1.0, **kw}
    blobs = blob_dog(image, params["sigma_min"], params["sigma_max"], params["k"],
                     params["dog_threshold"], params["overlap"])
    dog, sigmas = dog_scale_space(image, params["sigma_min"], params["sigma_max"], params["k"])
    masks = hessian_mask(dog, 1.4, rule=rule)
    out = np.zeros(image.shape, bool)
    for r, c, s in blobs:
        n = int(np.argmin(np.abs(sigmas - s)))
        if masks[n, int(r), int(c)]:
            out |= flood(masks[n], (int(r), int(c)), connectivity=connectivity)
    return out, blobs


def assert_consistent(res, shape):
    assert isinstance(res, HDoGResult)
    assert res.mask.dtype == bool and res.mask.shape == shape
    assert res.labels.dtype == np.int32 and res.labels.shape == shape
    assert isinstance(res.blobs, pd.DataFrame) and tuple(res.blobs.columns) == BLOB_COLUMNS
    np.testing.assert_array_equal(res.labels > 0, res.mask)
    n = res.n_objects
    assert set(np.unique(res.labels)) == set(range(n + 1)) or n == 0
    if len(res.blobs):
        b = res.blobs
        np.testing.assert_array_equal(res.labels[b.y, b.x], b.label)
        areas = np.bincount(res.labels.ravel())
        np.testing.assert_array_equal(areas[b.label], b.area)
        assert set(b.label) == set(range(1, n + 1))     # every object comes from a blob


@pytest.mark.parametrize("sigma", [1.2, 2.0, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_bright_gaussian_blob(sigma, dtype):
    img = phantom((50, 46), blobs=[(24, 21, sigma, 0.3)], background=0.2)
    if dtype == np.uint16:
        img = np.round(img.astype(np.float64) * 65535).astype(np.uint16)
    else:
        img = img.astype(dtype)
    res = hdog_segment(img, **PAPER)
    assert_consistent(res, img.shape)
    assert len(res.blobs) == 1
    row = res.blobs.iloc[0]
    assert (row.x, row.y) == (21, 24)
    _, sigmas = scale_sigmas(**PAPER)
    i_found = int(np.argmin(np.abs(sigmas - row.sigma)))
    i_true = int(np.argmin(np.abs(np.log(sigmas / sigma))))
    assert abs(i_found - i_true) <= 1
    rr, cc = np.mgrid[:50, :46]
    core = (rr - 24) ** 2 + (cc - 21) ** 2 <= sigma**2
    assert res.mask[core].all()                     # the object covers the blob
    assert res.labels[24, 21] == 1 and res.n_objects == 1


def test_uint16_with_intensity_scale_equals_float():
    img = phantom((40, 40), blobs=[(20, 20, 1.5, 0.2)], background=0.3)
    raw = np.round(img.astype(np.float64) * 16383).astype(np.uint16)
    a = hdog_segment(raw, intensity_scale=16383)
    b = hdog_segment((raw / np.float32(16383)).astype(np.float32))
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.blobs, b.blobs)


@pytest.mark.parametrize("image", [
    phantom((40, 40), blobs=[(20, 20, 2.0, -0.05)], background=0.5),      # dark blob
    np.full((40, 40), 0.4, np.float32),                                     # flat
    (0.3 + 0.002 * np.mgrid[:40, :40][1]).astype(np.float32),               # linear ramp
    np.zeros((1, 1), np.float32),                                           # one pixel
], ids=["dark", "flat", "ramp", "pixel"])
def test_nothing_gives_empty_result_of_the_same_types(image):
    res = hdog_segment(image)
    assert_consistent(res, image.shape)
    assert not res.mask.any() and res.n_objects == 0 and len(res.blobs) == 0
    assert dict(res.blobs.dtypes.astype(str)) == {"label": "int32", "x": "int64", "y": "int64",
                                                  "sigma": "float64", "area": "int64"}


def test_strong_dark_blob_centre_is_rejected():
    img = phantom((48, 48), blobs=[(24, 24, 2.0, -0.3)], background=0.5)
    res = hdog_segment(img)
    rr, cc = np.mgrid[:48, :48]
    assert not res.mask[(rr - 24) ** 2 + (cc - 24) ** 2 <= 9].any()


@pytest.mark.parametrize("rule", ["paper", "code"])
def test_bright_line_gives_a_tubular_object(rule):
    img = phantom((60, 60), lines=[(10, 8, 50, 52, 1.2, 0.15)], background=0.2)
    res = hdog_segment(img, hessian_rule=rule)
    assert_consistent(res, img.shape)
    t = np.linspace(0.1, 0.9, 50)
    rows = np.round(10 + 40 * t).astype(int)
    cols = np.round(8 + 44 * t).astype(int)
    assert res.mask[rows, cols].mean() > 0.95                   # covers the line
    assert len(np.unique(res.labels[rows, cols])) == 1          # as one object
    # tubular: at the line centre one eigenvalue is strongly negative, the other ~ 0
    dog, _ = dog_scale_space(img, **PAPER)
    l1, l2 = hessian_eigenvalues(*hessian_of_dog(dog[1]))
    assert l1[30, 30] < 0 and abs(l2[30, 30]) < 0.1 * abs(l1[30, 30])
    # elongated: much longer than wide
    obj = res.labels == res.labels[30, 30]
    rr, cc = np.nonzero(obj)
    ev = np.linalg.eigvalsh(np.cov(np.vstack([rr, cc])))
    assert ev[1] > 20 * ev[0]


@pytest.mark.parametrize("rule", ["paper", "code"])
@pytest.mark.parametrize("connectivity", [1, 2])
def test_matches_the_per_blob_reference(rule, connectivity):
    img = textured()
    res = hdog_segment(img, hessian_rule=rule, connectivity=connectivity)
    ref_mask, ref_blobs = reference(img, rule, connectivity)
    np.testing.assert_array_equal(res.mask, ref_mask)
    assert_consistent(res, img.shape)
    ours = set(map(tuple, res.blobs[["y", "x"]].to_numpy()))
    assert ours <= set(map(tuple, ref_blobs[:, :2].astype(int)))
    if rule == "paper":    # tr(H) <= 0 at every DoG maximum: every blob has an object
        assert len(res.blobs) == len(ref_blobs)


def test_peaks_agree_with_dog_peaks_and_blob_dog():
    img = textured(seed=7)
    res = hdog_segment(img, overlap=0.5)
    peaks = dog_peaks(img, overlap=0.5)
    ref = blob_dog(img, 1.18, 3.1, 1.6, 0.006, 0.5)
    np.testing.assert_allclose(peaks, ref, atol=1e-5)
    key = lambda a: sorted(map(tuple, np.round(a, 3)))  # noqa: E731
    assert key(res.blobs[["y", "x", "sigma"]].to_numpy()) == key(peaks)


def test_code_rule_objects_lie_inside_paper_objects():
    img = textured(seed=11)
    paper = hdog_segment(img, hessian_rule="paper")
    code = hdog_segment(img, hessian_rule="code")
    assert code.mask.sum() > 0
    assert not (code.mask & ~paper.mask).any()
    assert (paper.mask & ~code.mask).any()  # the rules differ here, so the inclusion is tested


def test_bands_and_threads_do_not_change_the_result(monkeypatch):
    img = textured(seed=5, shape=(130, 70))
    whole = hdog_segment(img, workers=1)
    monkeypatch.setattr(hdog_module, "_BAND_ROWS", 17)
    for workers in (1, 2):
        banded = hdog_segment(img, workers=workers)
        np.testing.assert_array_equal(banded.labels, whole.labels)
        pd.testing.assert_frame_equal(banded.blobs, whole.blobs)


def test_blobs_in_one_object_share_its_label():
    # two overlapping blobs at the same scale, joined by a bright bridge
    img = phantom((40, 60), blobs=[(20, 22, 2.0, 0.3), (20, 38, 2.0, 0.3)],
                  lines=[(20, 22, 20, 38, 2.0, 0.25)], background=0.2)
    res = hdog_segment(img, hessian_rule="paper")  # the printed rule keeps the whole bridge
    assert_consistent(res, img.shape)
    assert res.n_objects == 1 and len(res.blobs) >= 2
    assert res.blobs.label.nunique() == 1 and res.blobs.area.nunique() == 1


def test_exclude_border_and_connectivity_options():
    img = phantom((40, 40), blobs=[(1, 20, 1.5, 0.3), (20, 20, 1.5, 0.3)], background=0.2)
    assert len(hdog_segment(img).blobs) == 2
    res = hdog_segment(img, exclude_border=3)
    assert res.blobs[["y", "x"]].to_numpy().tolist() == [[20, 20]]
    eight = hdog_segment(img, connectivity=2)
    assert not (hdog_segment(img).mask & ~eight.mask).any()


@pytest.mark.parametrize("kwargs,bad", [
    (dict(sigma_min=3.0, sigma_max=2.0), "2.0"),
    (dict(k=1.0), "k must be > 1, got 1.0"),
    (dict(k=0.9), "0.9"),
    (dict(overlap=1.2), "1.2"),
    (dict(overlap=-0.5), "-0.5"),
    (dict(h_thr=float("inf")), "inf"),
    (dict(connectivity=3), "3"),
    (dict(hessian_rule="frangi"), "frangi"),
    (dict(dog_threshold=float("nan")), "nan"),
    (dict(workers=0), "0"),
])
def test_invalid_parameters_raise_with_the_value(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        hdog_segment(np.full((10, 10), 0.5, np.float32), **kwargs)


def test_out_of_range_float_image_is_rejected():
    with pytest.raises(ValueError, match="intensity_scale"):
        hdog_segment(np.full((10, 10), 1000.0, np.float32))
    with pytest.raises(ValueError, match="3-D|2-D"):
        hdog_segment(np.zeros((4, 4, 3), np.float32))


def test_input_is_not_modified():
    img = textured(seed=2, shape=(40, 40))
    copy = img.copy()
    hdog_segment(img)
    np.testing.assert_array_equal(img, copy)


def test_labels_are_components_of_the_mask():
    res = hdog_segment(textured(seed=9))
    lab, n = ndi.label(res.mask)
    assert n == res.n_objects
    np.testing.assert_array_equal(lab, res.labels)


def test_phantom():
    img = phantom((30, 30), blobs=[(15, 15, 2.0, 0.5)], lines=[(0, 0, 29, 29, 1.0, 0.1)],
                  background=0.1, texture=0.01, noise=0.001, seed=1)
    assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
    assert img[15, 15] > 0.55 and img[5, 25] < 0.2
    np.testing.assert_array_equal(img, phantom((30, 30), blobs=[(15, 15, 2.0, 0.5)],
                                               lines=[(0, 0, 29, 29, 1.0, 0.1)], background=0.1,
                                               texture=0.01, noise=0.001, seed=1))


def test_candidate_summary_counts_objects_area_and_reference_coverage():
    from hdogreg.hdog import candidate_summary

    img = phantom((80, 80), blobs=[(20, 20, 1.5, 0.3), (60, 60, 2.5, 0.3)], background=0.2)
    res = hdog_segment(img)
    ref = np.zeros(img.shape, bool)
    ref[19:22, 19:22] = True            # inside the first blob's object
    ref[5, 70] = True                   # far from every object
    s = candidate_summary(res, ref)
    areas = np.bincount(res.labels.ravel())[1:]
    assert s["objects"] == res.n_objects == 2 and s["blobs"] == len(res.blobs)
    assert s["median_object_area"] == float(np.median(areas))
    assert s["mask_fraction"] == pytest.approx(res.mask.sum() / img.size)
    assert s["reference_covered"] == pytest.approx(9 / 10)
    assert np.isnan(candidate_summary(res)["reference_covered"])
    assert np.isnan(candidate_summary(res, np.zeros(img.shape, bool))["reference_covered"])
    empty = candidate_summary(hdog_segment(np.full((32, 32), 0.2, np.float32)), ref[:32, :32])
    assert (empty["objects"], empty["median_object_area"], empty["mask_fraction"]) == (0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        candidate_summary(res, ref[:10])


def test_mask_within_and_the_authors_rule_inside_the_printed_one():
    from hdogreg.hdog import hdog_segment, mask_within, phantom

    a = np.zeros((4, 4), bool)
    a[1, 1] = True
    assert mask_within(a, a | np.eye(4, dtype=bool)) and not mask_within(np.eye(4, dtype=bool), a)
    assert mask_within(np.zeros((4, 4), bool), a)
    with pytest.raises(ValueError, match="differ in shape"):
        mask_within(a, a[:2])
    # for h_thr >= 1/4 the printed Eq. 6 is tr H < 0: the authors' rule keeps a subset
    image = phantom((96, 96), blobs=[(30, 30, 1.5, 0.1), (60, 64, 2.5, 0.06)],
                    lines=[(10, 80, 80, 10, 1.2, 0.05)], background=0.3, texture=0.02, noise=0.004)
    code = hdog_segment(image, h_thr=1.4, hessian_rule="code").mask
    paper = hdog_segment(image, h_thr=1.4, hessian_rule="paper").mask
    assert code.any() and mask_within(code, paper)
