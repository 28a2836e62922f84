import numpy as np
import pytest
from scipy import ndimage as ndi

from hdogreg.fusion import fuse, object_scores


def _square_objects(n_objects=5, side=4, gap=3):
    """Row of square objects with labels 1..n on a small image."""
    width = n_objects * (side + gap) + gap
    labels = np.zeros((side + 2 * gap, width), np.int32)
    for i in range(n_objects):
        c = gap + i * (side + gap)
        labels[gap:gap + side, c:c + side] = i + 1
    return labels


@pytest.mark.parametrize("n_inside, kept", [(4, False), (5, True), (3, False), (16, True), (0, False)])
def test_o_thr_boundary_is_strict(n_inside, kept):
    # A 16-px object; 0.3 * 16 = 4.8, so 4 pixels inside (25%) drop it and 5 (31%) keep it.
    labels = _square_objects(1, side=4)
    pmap = np.zeros(labels.shape)
    rr, cc = np.nonzero(labels == 1)
    pmap[rr[:n_inside], cc[:n_inside]] = 0.9
    res = fuse(labels, pmap, p_thr=0.5, o_thr=0.3)
    assert res.mask.any() == kept
    assert res.n_objects == int(kept)


def test_exact_fraction_equal_to_o_thr_is_dropped():
    # 10-px object, 3 px inside: overlap 0.3 is not > 0.3; 4 px inside is.
    labels = np.zeros((3, 12), np.int32)
    labels[1, 1:11] = 1
    pmap = np.zeros(labels.shape)
    pmap[1, 1:4] = 1.0
    assert fuse(labels, pmap, p_thr=0.5, o_thr=0.3).n_objects == 0
    pmap[1, 4] = 1.0
    assert fuse(labels, pmap, p_thr=0.5, o_thr=0.3).n_objects == 1
    # With o_thr = 0.5 the 4/10 object is dropped again.
    assert fuse(labels, pmap, p_thr=0.5, o_thr=0.5).n_objects == 0


def test_p_thr_boundary_is_inclusive():
    labels = np.zeros((3, 3), np.int32)
    labels[1, 1] = 1
    pmap = np.zeros((3, 3), np.float32)
    pmap[1, 1] = 0.25
    assert fuse(labels, pmap, p_thr=0.25).n_objects == 1
    assert fuse(labels, pmap, p_thr=np.nextafter(0.25, 1)).n_objects == 0


def _direct_kept(labels, pmap, p_thr, o_thr):
    """Reference: the paper's criterion evaluated object by object."""
    region = np.asarray(pmap, np.float64) >= p_thr
    ids = np.arange(1, labels.max() + 1)
    n = ndi.sum_labels(np.ones_like(labels), labels, ids)
    inside = ndi.sum_labels(region, labels, ids)
    return {int(i) for i, a, b in zip(ids, inside, n) if b > 0 and a / b > o_thr}


@pytest.mark.parametrize("o_thr", [0.0, 0.2, 0.3, 0.5, 0.6, 0.99, 1.0])
def test_scores_give_exact_one_pass_sweep(o_thr):
    rng = np.random.default_rng(1)
    labels = _square_objects(12, side=5)
    # Mixed object sizes (some objects trimmed) and quantised map values with ties.
    labels[labels % 3 == 0] *= (rng.random((labels % 3 == 0).sum()) < 0.6)
    pmap = (rng.integers(0, 20, labels.shape) / 20).astype(np.float32)
    scores = object_scores(labels, pmap, o_thr)
    thresholds = np.concatenate([np.unique(pmap), np.unique(pmap) + 1e-3, [-1.0, 0.0, 2.0],
                                 rng.random(30)])
    for p in thresholds:
        expected = _direct_kept(labels, pmap, p, o_thr)
        assert {i for i in range(1, len(scores)) if scores[i] >= p} == expected
        res = fuse(labels, pmap, p, o_thr, fill_holes=False)
        assert set(res.source_labels.tolist()) == expected
        # Relabelled 1..m in HDoG-label order, the same pixels as the source objects.
        for j, src in enumerate(res.source_labels, start=1):
            np.testing.assert_array_equal(res.labels == j, labels == src)
        np.testing.assert_array_equal(res.scores, scores[res.source_labels])


def test_scores_are_object_quantiles():
    labels = np.array([[1, 1, 1, 1, 1, 0, 2, 2, 0, 3]])
    pmap = np.array([[0.1, 0.5, 0.9, 0.3, 0.7, 0.0, 0.2, 0.4, 0.0, 0.8]])
    # object 1 sorted: .9 .7 .5 .3 .1, k = floor(0.3 * 5) = 1 -> .7; object 2: k = 0 -> .4
    np.testing.assert_allclose(object_scores(labels, pmap, 0.3), [-np.inf, 0.7, 0.4, 0.8])
    np.testing.assert_allclose(object_scores(labels, pmap, 0.5), [-np.inf, 0.5, 0.2, 0.8])


def test_keep_all_candidates_for_sweeps_and_absent_labels():
    labels = np.array([[1, 0, 3, 3]])           # label 2 absent
    pmap = np.array([[0.0, 0.0, 0.1, 0.2]])
    res = fuse(labels, pmap, p_thr=-np.inf)
    np.testing.assert_array_equal(res.source_labels, [1, 3])
    np.testing.assert_allclose(res.scores, [0.0, 0.2])
    assert res.labels.dtype == np.int32


def test_fill_holes_takes_enclosing_label():
    labels = np.zeros((9, 16), np.int32)
    labels[1:6, 1:6] = 1
    labels[3, 3] = 0                  # one-pixel hole in object 1
    labels[1:8, 8:15] = 2
    labels[3:5, 10:12] = 0            # 2x2 hole in object 2
    pmap = np.ones(labels.shape)
    res = fuse(labels, pmap, p_thr=0.5)
    assert res.labels[3, 3] == 1 and np.all(res.labels[3:5, 10:12] == 2)
    assert res.mask.sum() == 25 + 49
    res = fuse(labels, pmap, p_thr=0.5, fill_holes=False)
    assert res.labels[3, 3] == 0 and res.mask.sum() == 24 + 45


def test_hole_between_two_objects_is_left_open():
    # Two L-shaped objects touching only diagonally enclose a 3x3 hole together; filling it
    # would join them, so it stays open and the mask keeps two 4-connected components.
    labels = np.zeros((7, 7), np.int32)
    labels[1, 1:5] = 1
    labels[1:5, 1] = 1
    labels[5, 2:6] = 2
    labels[2:6, 5] = 2
    assert ndi.binary_fill_holes(labels > 0)[2:5, 2:5].all()
    pmap = np.ones(labels.shape)
    res = fuse(labels, pmap, p_thr=0.5)
    np.testing.assert_array_equal(res.labels, labels)
    assert ndi.label(res.mask)[1] == 2


def test_fill_holes_matches_reference_on_random_objects():
    rng = np.random.default_rng(3)
    mask = ndi.binary_opening(rng.random((60, 80)) < 0.55)
    labels = ndi.label(mask)[0].astype(np.int32)
    res = fuse(labels, np.ones(labels.shape), p_thr=0.5)
    # Reference, hole by hole: fill it iff all bordering object pixels carry one label.
    expected = labels.copy()
    holes, n = ndi.label(ndi.binary_fill_holes(mask) & ~mask)
    assert n > 3
    for h in range(1, n + 1):
        ring = ndi.binary_dilation(holes == h) & (labels > 0)
        around = np.unique(labels[ring])
        if len(around) == 1:
            expected[holes == h] = around[0]
    np.testing.assert_array_equal(res.labels, expected)


def test_empty_and_inputs_untouched():
    labels = np.zeros((5, 5), np.int32)
    res = fuse(labels, np.zeros((5, 5)), p_thr=0.1)
    assert res.n_objects == 0 and not res.mask.any() and res.scores.shape == (0,)
    labels = _square_objects(2)
    pmap = np.ones(labels.shape, np.float32)
    lab0, pm0 = labels.copy(), pmap.copy()
    fuse(labels, pmap, 0.5)
    np.testing.assert_array_equal(labels, lab0)
    np.testing.assert_array_equal(pmap, pm0)


@pytest.mark.parametrize("kwargs, match", [
    ({"o_thr": 1.5}, "o_thr"), ({"o_thr": -0.1}, "o_thr"), ({"o_thr": np.nan}, "o_thr"),
    ({"p_thr": np.nan}, "p_thr"),
])
def test_bad_parameters(kwargs, match):
    args = {"p_thr": 0.5, "o_thr": 0.3, **kwargs}
    with pytest.raises(ValueError, match=match):
        fuse(np.ones((2, 2), np.int32), np.zeros((2, 2)), **args)


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        fuse(np.ones((2, 2), np.int32), np.zeros((3, 2)), 0.5)
    with pytest.raises(ValueError, match="integer"):
        fuse(np.ones((2, 2)), np.zeros((2, 2)), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        fuse(np.ones((2, 2), np.int32), np.full((2, 2), np.nan), 0.5)
