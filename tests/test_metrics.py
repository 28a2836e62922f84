"""Tests of hdogreg.metrics on hand-built label images with known answers."""

import numpy as np
import pytest
from scipy import stats

from hdogreg import metrics as M


def _img(shape=(20, 20)):
    return np.zeros(shape, np.int32)


# ----------------------------------------------------------------------------- IoU per image


def test_iou_per_image_known_values():
    ref = _img((10, 10))
    ref[2:4, 2:4] = 1  # 4 px
    pred = _img((10, 10))
    pred[2:4, 2:5] = 7  # 6 px, 4 shared
    miou, iou_mc = M.iou_per_image(pred, ref)
    assert iou_mc == pytest.approx(4 / 6)
    iou_bg = 94 / 96
    assert miou == pytest.approx((4 / 6 + iou_bg) / 2)


def test_iou_per_image_empty_prediction_and_reference():
    ref = _img((10, 10))
    ref[0:2, 0:5] = 1  # 10 px
    empty = _img((10, 10))
    miou, iou_mc = M.iou_per_image(empty, ref)
    assert iou_mc == 0.0
    assert miou == pytest.approx((0 + 90 / 100) / 2)
    miou, iou_mc = M.iou_per_image(ref, empty)  # empty reference, 10 px predicted
    assert iou_mc == 0.0
    assert miou == pytest.approx(0.45)


def test_iou_per_image_both_empty_convention():
    empty = _img((5, 5))
    assert M.iou_per_image(empty, empty) == (1.0, 1.0)
    miou, iou_mc = M.iou_per_image(empty, empty, empty_value=np.nan)
    assert np.isnan(iou_mc) and np.isnan(miou)


def test_iou_per_image_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        M.iou_per_image(np.zeros((4, 4)), np.zeros((4, 5)))


# ----------------------------------------------------------------------------- IoU per object


def test_iou_per_object_excludes_point_annotations():
    ref = _img()
    ref[2:4, 2:4] = 1  # 4 px
    ref[10, 10] = 2  # point annotation
    ref[15:17, 15:18] = 3  # 6 px, not touched
    pred = _img()
    pred[2:4, 2:5] = 4
    pred[10, 10] = 5  # a perfect hit on the point is not counted
    iou, labels = M.iou_per_object(pred, ref, return_labels=True)
    assert labels.tolist() == [1, 3]
    np.testing.assert_allclose(iou, [4 / 6, 0.0])


def test_iou_per_object_split_reference():
    ref = _img()
    ref[5:7, 2:10] = 1  # 16 px
    pred = _img()
    pred[5:7, 2:7] = 1  # 10 px
    pred[5:7, 7:10] = 2  # 6 px
    # the object with the most overlap is label 1: IoU 10/16
    np.testing.assert_allclose(M.iou_per_object(pred, ref), [10 / 16])


def test_iou_per_object_merged_prediction():
    ref = _img()
    ref[5:7, 2:4] = 1  # 4 px
    ref[5:7, 6:8] = 2  # 4 px
    pred = _img()
    pred[5:7, 2:8] = 9  # 12 px covering both
    np.testing.assert_allclose(M.iou_per_object(pred, ref), [4 / 12, 4 / 12])


def test_iou_per_object_most_overlap_not_best_iou():
    ref = _img()
    ref[0:4, 0:4] = 1  # 16 px
    pred = _img()
    pred[0:4, 0:3] = 1  # 12 px inside the reference -> the most overlap
    pred[0:4, 3:4] = 2  # 4 px
    np.testing.assert_allclose(M.iou_per_object(pred, ref), [12 / 16])


def test_iou_per_object_empty_inputs_and_bool_mask():
    ref = _img()
    ref[2:4, 2:4] = 1
    assert M.iou_per_object(_img(), ref).tolist() == [0.0]
    assert M.iou_per_object(ref, _img()).size == 0
    assert M.iou_per_object(ref > 0, ref).tolist() == [1.0]


# ----------------------------------------------------------------------------- matching


def _greedy_reference_order(pred, ref, max_distance=5.0):
    """The authors' order-dependent rule (distance part only), to show where it fails."""
    used, tp = set(), 0
    pc = {lab: np.argwhere(pred == lab).mean(0) for lab in np.unique(pred[pred > 0])}
    for r in np.unique(ref[ref > 0]):
        rc = np.argwhere(ref == r).mean(0)
        for p, c in pc.items():
            if p not in used and np.hypot(*(c - rc)) <= max_distance:
                used.add(p)
                tp += 1
                break
    return tp


def test_match_detections_beats_greedy():
    ref = _img()
    ref[10, 10] = 1  # A
    ref[10, 16] = 2  # B
    pred = _img()
    pred[10, 13] = 1  # 3 px from A and from B
    pred[10, 7] = 2  # 3 px from A only
    assert _greedy_reference_order(pred, ref) == 1  # greedy gives 1 to A, B is missed
    m = M.match_detections(pred, ref)
    assert (m.n_tp, m.n_fp, m.n_fn) == (2, 0, 0)
    assert sorted(map(tuple, m.pairs.tolist())) == [(1, 2), (2, 1)]


def test_match_detections_one_to_one():
    ref = _img()
    ref[10, 8] = 1
    ref[10, 12] = 2
    pred = _img()
    pred[10, 10] = 1  # eligible for both, counts once
    m = M.match_detections(pred, ref)
    assert (m.n_tp, m.n_fp, m.n_fn) == (1, 0, 1)


def test_match_detections_distance_and_iou_rules():
    ref = np.zeros((12, 60), np.int32)
    ref[0:10, 0:10] = 1
    pred = np.zeros_like(ref)
    pred[0:10, 0:30] = 1  # IoU 1/3, centroid 10 px away: eligible through IoU only
    assert M.match_detections(pred, ref).n_tp == 1
    pred[0:10, 30:40] = 1  # IoU 1/4, centroid 15 px away: not eligible
    assert M.match_detections(pred, ref).n_tp == 0
    pt_ref = np.zeros((20, 20), np.int32)
    pt_ref[5, 5] = 1
    for col, expected in [(10, 1), (11, 0)]:  # 5 px: in, 6 px: out
        p = np.zeros_like(pt_ref)
        p[5, col] = 3
        assert M.match_detections(p, pt_ref).n_tp == expected


def test_match_detections_empty():
    ref = _img()
    ref[3, 3] = 1
    ref[8:10, 8:10] = 2
    m = M.match_detections(_img(), ref)
    assert (m.n_tp, m.n_fp, m.n_fn) == (0, 0, 2) and m.pairs.shape == (0, 2)
    m = M.match_detections(ref, _img())
    assert (m.n_tp, m.n_fp, m.n_fn) == (0, 2, 0)


# ----------------------------------------------------------------------------- FROC


def _random_scene(rng, n_ref=12, n_pred=40, shape=(64, 64)):
    ref = np.zeros(shape, np.int32)
    pred = np.zeros(shape, np.int32)
    for lab in range(1, n_ref + 1):
        r, c = rng.integers(2, shape[0] - 3, 2)
        if lab % 3:
            ref[r : r + 2, c : c + 2] = lab
        else:
            ref[r, c] = lab
    for lab in range(1, n_pred + 1):
        r, c = rng.integers(1, shape[0] - 2, 2)
        pred[r : r + rng.integers(1, 3), c : c + rng.integers(1, 3)] = lab
    present = np.unique(pred[pred > 0])
    pred = np.searchsorted(present, pred).astype(np.int32) * (pred > 0)  # relabel 1..n
    scores = np.round(rng.random(pred.max()), 1)  # ties on purpose
    return pred, scores, ref


def test_froc_counts_equal_matching_at_every_threshold():
    rng = np.random.default_rng(1)
    for _ in range(3):
        pred, scores, ref = _random_scene(rng)
        thresholds = M.score_thresholds(scores)
        counts = M.froc_counts(pred, scores, ref, thresholds)
        assert counts.n_ref == len(np.unique(ref)) - 1
        for t, tp, fp in zip(thresholds, counts.tp, counts.fp):
            kept = np.flatnonzero(scores >= t) + 1
            m = M.match_detections(np.where(np.isin(pred, kept), pred, 0), ref)
            assert (m.n_tp, m.n_fp) == (tp, fp)


def test_froc_counts_monotone():
    rng = np.random.default_rng(2)
    pred, scores, ref = _random_scene(rng, n_pred=60)
    thresholds = np.linspace(0, 1.1, 23)
    c = M.froc_counts(pred, scores, ref, thresholds)
    assert np.all(np.diff(c.tp) <= 0) and np.all(np.diff(c.fp) <= 0)
    assert c.tp[-1] == 0 and c.fp[-1] == 0
    assert c.tp[0] + c.fp[0] == pred.max()  # everything kept at threshold 0
    fp_cm2, tpr = M.froc_curve(c.tp, c.fp, c.n_ref, 2.0)
    assert np.all(np.diff(fp_cm2) <= 0) and np.all(np.diff(tpr) <= 0)


def test_froc_counts_validates_scores():
    pred = _img()
    pred[1, 1] = 1
    pred[5, 5] = 2
    with pytest.raises(ValueError, match="one entry per label"):
        M.froc_counts(pred, [0.5], _img(), [0.1])


def test_froc_counts_empty_prediction():
    ref = _img()
    ref[2, 2] = 1
    c = M.froc_counts(_img(), [], ref, [0.0, 0.5])
    assert c.tp.tolist() == [0, 0] and c.fp.tolist() == [0, 0] and c.n_ref == 1


def test_froc_curve_pooled():
    tp = [[2, 1], [3, 0]]
    fp = [[4, 0], [2, 1]]
    fpc, tpr = M.froc_curve(tp, fp, [4, 6], [2.0, 1.0])
    np.testing.assert_allclose(fpc, [6 / 3, 1 / 3])
    np.testing.assert_allclose(tpr, [5 / 10, 1 / 10])


def test_partial_auc_perfect_and_conventions():
    # a perfect detector: every MC found before the first false positive
    assert M.partial_auc([0.0, 0.0, 0.5, 3.0], [0.0, 1.0, 1.0, 1.0]) == pytest.approx(1.0)
    # (0,0) prepended, trapezoid to (0.5, 0.8), flat to 1
    assert M.partial_auc([0.5], [0.8]) == pytest.approx(0.2 + 0.4)
    # points beyond the range are ignored: nothing in range -> 0
    assert M.partial_auc([1.5], [1.0]) == 0.0
    # order does not matter
    assert M.partial_auc([0.8, 0.2], [0.9, 0.5]) == pytest.approx(M.partial_auc([0.2, 0.8], [0.5, 0.9]))
    assert M.partial_auc([0.2, 0.8], [0.5, 0.9]) == pytest.approx(0.05 + 0.42 + 0.18)


def test_perfect_detector_froc_pauc_is_one():
    ref = _img()
    ref[3:5, 3:5] = 1
    ref[12, 12] = 2
    pred = _img()
    pred[3:5, 3:5] = 1
    pred[12, 13] = 2
    pred[18, 2] = 3  # one low-scored false positive
    scores = np.array([0.9, 0.8, 0.1])
    th = M.score_thresholds(scores)
    c = M.froc_counts(pred, scores, ref, th)
    fpc, tpr = M.froc_curve(c.tp, c.fp, c.n_ref, 5.0)
    assert M.partial_auc(fpc, tpr) == pytest.approx(1.0)
    assert M.tpr_at(fpc, tpr, 0.4) == 1.0


def _synthetic_counts(rng, n_img=15, n_thr=30):
    tp = np.sort(rng.integers(0, 10, (n_img, n_thr)), axis=1)[:, ::-1]
    fp = np.sort(rng.integers(0, 25, (n_img, n_thr)), axis=1)[:, ::-1]
    nref = tp.max(1) + rng.integers(0, 4, n_img)
    area = rng.uniform(20, 60, n_img)
    return tp, fp, nref, area


def test_bootstrap_reproducible_and_ci_contains_mean():
    tp, fp, nref, area = _synthetic_counts(np.random.default_rng(3))
    a = M.bootstrap_froc(tp, fp, nref, area, n_boot=100, seed=0)
    b = M.bootstrap_froc(tp, fp, nref, area, n_boot=100, seed=0)
    c = M.bootstrap_froc(tp, fp, nref, area, n_boot=100, seed=1)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)
    assert a.samples.shape == (100,)
    assert a.ci95[0] <= a.mean <= a.ci95[1]
    assert a.ci95[0] < a.ci95[1]
    full = M.partial_auc(*M.froc_curve(tp, fp, nref, area))
    assert a.ci95[0] <= full <= a.ci95[1]


def test_bootstrap_sample_matches_direct_computation():
    tp, fp, nref, area = _synthetic_counts(np.random.default_rng(4), n_img=6)
    res = M.bootstrap_froc(tp, fp, nref, area, n_boot=5, seed=7)
    rng = np.random.default_rng(7)
    draws = rng.integers(0, 6, size=(5, 6))
    for k in range(5):
        idx = draws[k]
        expected = M.partial_auc(*M.froc_curve(tp[idx], fp[idx], nref[idx], area[idx]))
        assert res.samples[k] == pytest.approx(expected)


def test_bootstrap_weights_count_group_draws():
    groups = ["b", "a", "b", "c"]
    w = M.bootstrap_weights(groups, n_boot=6, seed=3)
    assert w.shape == (6, 4)
    draws = np.random.default_rng(3).integers(0, 3, size=(6, 3))  # codes: a=0, b=1, c=2
    for k in range(6):
        per_group = np.bincount(draws[k], minlength=3)
        np.testing.assert_array_equal(w[k], per_group[[1, 0, 1, 2]])
    np.testing.assert_array_equal(M.bootstrap_weights(4, 6, 3), M.bootstrap_weights(np.arange(4), 6, 3))
    with pytest.raises(ValueError, match="n_boot"):
        M.bootstrap_weights(4, 0)


def test_bootstrap_froc_samples_are_its_weights():
    tp, fp, nref, area = _synthetic_counts(np.random.default_rng(6), n_img=7)
    groups = [0, 0, 1, 2, 2, 2, 3]
    res = M.bootstrap_froc(tp, fp, nref, area, groups=groups, n_boot=9, seed=2)
    w = M.bootstrap_weights(groups, 9, 2)
    for k in range(9):
        idx = np.repeat(np.arange(7), w[k].astype(int))
        expected = M.partial_auc(*M.froc_curve(tp[idx], fp[idx], nref[idx], area[idx]))
        assert res.samples[k] == pytest.approx(expected)


def test_bootstrap_groups_resample_whole_patients():
    tp, fp, nref, area = _synthetic_counts(np.random.default_rng(5), n_img=8)
    full = M.partial_auc(*M.froc_curve(tp, fp, nref, area))
    one_patient = M.bootstrap_froc(tp, fp, nref, area, groups=["p1"] * 8, n_boot=20, seed=0)
    np.testing.assert_allclose(one_patient.samples, full)
    two = M.bootstrap_froc(tp, fp, nref, area, groups=[0, 0, 0, 0, 1, 1, 1, 1], n_boot=50, seed=0)
    first = M.partial_auc(*M.froc_curve(tp[:4], fp[:4], nref[:4], area[:4]))
    second = M.partial_auc(*M.froc_curve(tp[4:], fp[4:], nref[4:], area[4:]))
    # only three distinct samples are possible: {0,0}, {1,1}, {0,1}
    distinct = np.unique(np.round(two.samples, 12))
    assert distinct.size <= 3
    assert np.isclose(distinct, first).any() or np.isclose(distinct, second).any()


def test_tpr_at():
    fpc = [0.0, 0.2, 0.4, 0.6]
    tpr = [0.1, 0.5, 0.7, 0.9]
    assert M.tpr_at(fpc, tpr, 0.4) == 0.7
    assert M.tpr_at(fpc, tpr, 0.5) == 0.7
    assert M.tpr_at([0.5], [0.9], 0.4) == 0.0


def test_choose_threshold_closest_to_ideal_point():
    th = [0.9, 0.7, 0.5, 0.3]
    fpc = [0.05, 0.2, 0.5, 1.5]
    tpr = [0.3, 0.8, 0.9, 1.0]
    # distances: 0.70, 0.28, 0.51, 1.5
    assert M.choose_threshold(th, fpc, tpr) == (0.7, 1)
    # if false positives are cheap (u = 100 FP/cm^2), the most sensitive point wins
    assert M.choose_threshold(th, fpc, tpr, fp_unit=100.0) == (0.3, 3)
    # ties go to the higher threshold
    assert M.choose_threshold([0.2, 0.4], [0.1, 0.1], [0.9, 0.9]) == (0.4, 1)


def test_wilcoxon_paired_matches_scipy_and_drops_nan():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 0.8, 20)
    b = a - rng.uniform(0.01, 0.1, 20)
    res = M.wilcoxon_paired(a, b)
    assert res.pvalue < 0.01
    assert res.pvalue == stats.wilcoxon(a, b).pvalue
    a2 = np.r_[a, np.nan]
    b2 = np.r_[b, 0.3]
    assert M.wilcoxon_paired(a2, b2).pvalue == res.pvalue
    with pytest.raises(ValueError, match="differ in length"):
        M.wilcoxon_paired(a, b[:-1])


def test_breast_area_cm2_counts_pixels_at_the_spacing():
    mask = np.zeros((200, 100), bool)
    mask[:100] = True                              # 100 x 100 px
    assert M.breast_area_cm2(mask, 0.1) == pytest.approx(1.0)     # 10 mm x 10 mm
    assert M.breast_area_cm2(mask, 0.07) == pytest.approx(0.49)
    assert M.breast_area_cm2(np.zeros((4, 4), bool), 0.07) == 0.0
    for bad in (0.0, -0.07, np.nan):
        with pytest.raises(ValueError, match="pixel_spacing"):
            M.breast_area_cm2(mask, bad)
