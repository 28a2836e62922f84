"""Tests for hdogreg.casestudy: fixed ROIs, patient-wise CV with XGBoost, no leakage."""

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hdogreg.casestudy import (
    METRICS,
    PAPER_FIG8_AUC,
    PAPER_TABLE4,
    binary_metrics,
    crop,
    cross_validate,
    feature_importance,
    fixed_box,
    make_classifier,
    patient_folds,
    results_table,
    roc_table,
    threshold_for_sensitivity,
)


def _light(seed):
    """The case-study pipeline with fewer trees, to keep the tests fast."""
    return make_classifier(seed, n_estimators=40)


def _cohort(n_patients=60, signal=1.5, seed=0, n_noise=4, missing=0.1):
    """Synthetic ROI table: 1-3 ROIs per patient, label per patient, signal in feature 0."""
    rng = np.random.default_rng(seed)
    n_rois = rng.integers(1, 4, n_patients)
    patient = np.repeat([f"p{i:03d}" for i in range(n_patients)], n_rois)
    y = np.repeat(rng.random(n_patients) < 0.42, n_rois).astype(int)
    X = rng.normal(size=(patient.size, 1 + n_noise))
    X[:, 0] += signal * y
    X[rng.random(X.shape) < missing] = np.nan  # empty segmentations
    cols = ["signal", *[f"noise_{i}" for i in range(n_noise)]]
    frame = pd.DataFrame(X, columns=cols, index=pd.Index([f"roi{i}" for i in range(patient.size)]))
    return frame, y, patient


# ------------------------------------------------------------------ fixed boxes


@pytest.mark.parametrize(
    "bbox, shape",
    [
        ((400, 300, 440, 320), (1000, 800)),  # interior
        ((0, 0, 30, 20), (1000, 800)),  # top-left corner
        ((770, 950, 800, 1000), (1000, 800)),  # bottom-right corner
        ((100, 100, 700, 600), (1000, 800)),  # box larger than 256
    ],
)
def test_fixed_box_size_and_inside(bbox, shape):
    x0, y0, x1, y1 = fixed_box(bbox, 256, shape=shape)
    assert (x1 - x0, y1 - y0) == (256, 256)
    assert 0 <= x0 and 0 <= y0 and x1 <= shape[1] and y1 <= shape[0]
    assert all(isinstance(v, int) for v in (x0, y0, x1, y1))
    # crop has the fixed size
    assert crop(np.zeros(shape), (x0, y0, x1, y1)).shape == (256, 256)


def test_fixed_box_keeps_centre_in_interior():
    for bbox in [(400, 300, 440, 320), (401, 299, 460, 377), (100, 100, 700, 600)]:
        x0, y0, x1, y1 = fixed_box(bbox, 256, shape=(1000, 800))
        assert abs((x0 + x1) / 2 - (bbox[0] + bbox[2]) / 2) <= 0.5
        assert abs((y0 + y1) / 2 - (bbox[1] + bbox[3]) / 2) <= 0.5


def test_fixed_box_shifted_at_border():
    assert fixed_box((0, 0, 30, 20), 256, shape=(1000, 800)) == (0, 0, 256, 256)
    assert fixed_box((770, 950, 800, 1000), 256, shape=(1000, 800)) == (544, 744, 800, 1000)


def test_fixed_box_small_image_and_size():
    # image narrower than the box along x: whole axis
    assert fixed_box((10, 400, 50, 420), 256, shape=(1000, 100)) == (0, 282, 100, 538)
    assert fixed_box((10, 10, 20, 20), 8, shape=(100, 100)) == (11, 11, 19, 19)


def test_fixed_box_validation():
    with pytest.raises(ValueError, match="x1 > x0"):
        fixed_box((10, 10, 5, 20), shape=(100, 100))
    with pytest.raises(ValueError, match="size"):
        fixed_box((10, 10, 20, 20), 0, shape=(100, 100))
    with pytest.raises(ValueError, match="outside"):
        fixed_box((500, 10, 520, 20), shape=(100, 100))


def test_crop_is_a_view_with_x_as_column():
    image = np.arange(100).reshape(10, 10)
    c = crop(image, (2, 5, 4, 6))  # x = columns 2-3, y = row 5
    assert c.tolist() == [[52, 53]]


# ------------------------------------------------------------------ folds and thresholds


def test_patient_folds_are_patient_disjoint_and_stratified():
    X, y, patient = _cohort(n_patients=80, seed=3)
    folds = patient_folds(patient, y, n_splits=5, seed=0)
    assert set(folds) == set(range(5))
    per_patient = pd.Series(folds).groupby(patient).nunique()
    assert (per_patient == 1).all()  # no patient spans two folds
    rates = pd.Series(y).groupby(folds).mean()
    assert (rates.sub(y.mean()).abs() < 0.15).all()
    # seeded: same seed -> same folds, another seed -> other folds
    assert np.array_equal(folds, patient_folds(patient, y, n_splits=5, seed=0))
    assert not np.array_equal(folds, patient_folds(patient, y, n_splits=5, seed=1))


def test_patient_folds_validation():
    with pytest.raises(ValueError, match="patients \\(3\\)"):
        patient_folds(["a", "b", "c"], [0, 1, 0], n_splits=5)
    with pytest.raises(ValueError, match="equal length"):
        patient_folds(["a", "b"], [0, 1, 0])


def test_threshold_for_sensitivity():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.95, 0.05, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.99])
    thr = threshold_for_sensitivity(y, s, target=0.9)
    # 10 positives: sensitivity 0.9 = 9 of 10 called -> cut at 0.3
    assert thr == pytest.approx(0.3)
    assert binary_metrics(y, s, thr)["sensitivity"] == pytest.approx(0.9)
    # ties in sensitivity -> highest threshold (best specificity)
    assert threshold_for_sensitivity([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.9], 0.5) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="both classes"):
        threshold_for_sensitivity([1, 1], [0.2, 0.3])


def test_binary_metrics_values():
    y = [1, 1, 1, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.1]
    m = binary_metrics(y, s, 0.5)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["ppv"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["auc"] == pytest.approx(11 / 12)  # 11 of 12 pos/neg pairs ordered
    assert np.isnan(binary_metrics(y, s, 2.0)["ppv"])  # no positive call


# ------------------------------------------------------------------ classifier and CV


def test_make_classifier_steps():
    pipe = make_classifier(7)
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["impute", "scale", "model"]
    assert pipe.named_steps["impute"].strategy == "mean"
    model = pipe.named_steps["model"]
    assert model.get_params()["random_state"] == 7 and model.get_params()["n_jobs"] == 1


class _SpyImputer(SimpleImputer):
    fitted = []

    def fit(self, X, y=None):
        _SpyImputer.fitted.append(np.asarray(X)[:, -1].copy())
        return super().fit(X, y)


class _SpyScaler(StandardScaler):
    fitted = []

    def fit(self, X, y=None, sample_weight=None):
        _SpyScaler.fitted.append(np.asarray(X)[:, -1].copy())
        return super().fit(X, y, sample_weight)


def _spy_classifier(seed):
    pipe = _light(seed)
    pipe.steps[0] = ("impute", _SpyImputer(strategy="mean", keep_empty_features=True))
    pipe.steps[1] = ("scale", _SpyScaler())
    return pipe


@pytest.mark.parametrize("threshold_from", ["train", "inner-cv"])
def test_no_leakage_preprocessing_fitted_inside_training_folds(threshold_from):
    X, y, patient = _cohort(n_patients=40, seed=1)
    X["row_id"] = np.arange(len(X), dtype=float)  # identifies the rows each step is fitted on
    _SpyImputer.fitted.clear()
    _SpyScaler.fitted.clear()
    res = cross_validate(X, y, patient, seed=0, classifier=_spy_classifier,
                         threshold_from=threshold_from, inner_splits=3, progress=False)
    folds = res.predictions["fold"].to_numpy()
    # no patient spans two folds
    assert (pd.Series(folds).groupby(patient).nunique() == 1).all()
    n_fits = 5 * (1 if threshold_from == "train" else 1 + 3)
    for spy in (_SpyImputer, _SpyScaler):
        assert len(spy.fitted) == n_fits
        outer = 0
        for rows in spy.fitted:
            rows = set(rows.astype(int))
            # every fit belongs to one fold's training rows and never sees its test rows
            owners = [k for k in range(5) if rows <= set(np.flatnonzero(folds != k))]
            assert len(owners) >= 1
            outer += any(rows == set(np.flatnonzero(folds != k)) for k in range(5))
        assert outer == 5  # the five outer models are fitted on exactly their training folds
    # the stored models' imputer means and scaler are those of the training rows only
    Xa = X.to_numpy()
    for k, model in enumerate(res.models):
        train = Xa[folds != k]
        np.testing.assert_allclose(model.named_steps["impute"].statistics_, np.nanmean(train, axis=0))
        imputed = np.where(np.isnan(train), np.nanmean(train, axis=0), train)
        np.testing.assert_allclose(model.named_steps["scale"].mean_, imputed.mean(axis=0))
        np.testing.assert_allclose(model.named_steps["scale"].scale_, imputed.std(axis=0))


def test_cv_with_signal_beats_chance():
    X, y, patient = _cohort(n_patients=70, signal=2.0, seed=2)
    res = cross_validate(X, y, patient, seed=0, classifier=_light, progress=False)
    auc = res.summary.set_index("metric").loc["auc", "mean"]
    assert auc > 0.8
    imp = feature_importance(res)
    assert imp.index[0] == "signal"
    assert list(imp.columns) == ["mean", "sd"]


def test_cv_without_signal_is_chance():
    X, y, patient = _cohort(n_patients=70, signal=0.0, seed=2)
    aucs = [
        cross_validate(X, y, patient, seed=s, classifier=_light, threshold_from="train",
                       progress=False).summary.set_index("metric").loc["auc", "mean"]
        for s in range(3)
    ]
    assert all(0.3 < a < 0.7 for a in aucs)
    assert 0.4 < np.mean(aucs) < 0.6


def test_cv_result_structure_and_determinism():
    X, y, patient = _cohort(n_patients=50, signal=1.5, seed=4)
    res = cross_validate(X, y, patient, seed=0, classifier=_light, n_grid=21, progress=False)
    assert list(res.folds.columns) == ["fold", "n_train", "n_test", *METRICS, "threshold"]
    assert len(res.folds) == 5
    assert (res.folds["n_train"] + res.folds["n_test"] == len(X)).all()
    assert list(res.summary.columns) == ["metric", "mean", "sd"]
    assert list(res.summary["metric"]) == list(METRICS)
    np.testing.assert_allclose(
        res.summary["mean"], [res.folds[m].mean() for m in METRICS]
    )
    np.testing.assert_allclose(res.summary["sd"], [res.folds[m].std(ddof=0) for m in METRICS])
    # out-of-fold predictions: every row exactly once, same index as X
    assert res.predictions.index.equals(X.index)
    assert res.predictions["score"].between(0, 1).all()
    # per-fold metrics agree with the out-of-fold predictions
    k0 = res.predictions[res.predictions["fold"] == 0]
    m0 = binary_metrics(k0["y"], k0["score"], k0["threshold"].iloc[0])
    assert res.folds.loc[0, "sensitivity"] == pytest.approx(m0["sensitivity"])
    # ROC on the common grid
    assert res.roc.shape == (5 * 21, 3)
    assert res.roc_mean.shape == (21, 3)
    assert res.roc_mean["tpr_mean"].iloc[0] == 0 and res.roc_mean["tpr_mean"].iloc[-1] == 1
    assert res.roc_mean["tpr_mean"].is_monotonic_increasing
    assert (res.roc_mean["tpr_sd"] >= 0).all()
    assert res.importance.shape == (X.shape[1], 5)
    # seeded: identical on a rerun
    again = cross_validate(X, y, patient, seed=0, classifier=_light, n_grid=21, progress=False)
    pd.testing.assert_frame_equal(res.folds, again.folds)
    pd.testing.assert_frame_equal(res.predictions, again.predictions)


def test_threshold_from_inner_cv_transfers_better_than_in_sample():
    X, y, patient = _cohort(n_patients=90, signal=1.2, seed=5, missing=0.0)
    kw = dict(seed=0, classifier=_light, progress=False)
    inner = cross_validate(X, y, patient, threshold_from="inner-cv", **kw)
    train = cross_validate(X, y, patient, threshold_from="train", **kw)
    sens_inner = inner.summary.set_index("metric").loc["sensitivity", "mean"]
    sens_train = train.summary.set_index("metric").loc["sensitivity", "mean"]
    assert abs(sens_inner - 0.9) < abs(sens_train - 0.9)
    assert sens_inner > 0.75


def test_all_missing_feature_column_is_kept():
    X, y, patient = _cohort(n_patients=40, seed=6)
    X["empty"] = np.nan
    res = cross_validate(X, y, patient, seed=0, classifier=_light, threshold_from="train",
                         progress=False)
    assert res.importance.loc["empty"].eq(0).all()
    assert np.isfinite(res.folds["auc"]).all()


def test_cross_validate_validation():
    X, y, patient = _cohort(n_patients=20)
    with pytest.raises(ValueError, match="same length"):
        cross_validate(X, y[:-1], patient)
    with pytest.raises(ValueError, match="0/1"):
        cross_validate(X, y * 2, patient)
    with pytest.raises(ValueError, match="threshold_from"):
        cross_validate(X, y, patient, threshold_from="test")


def test_results_and_roc_tables():
    X, y, patient = _cohort(n_patients=40, seed=7)
    r = cross_validate(X, y, patient, seed=0, classifier=_light, threshold_from="train",
                       n_grid=11, progress=False)
    table = results_table({"ours": r, "ciecholewski": r})
    assert list(table.columns) == ["method", "metric", "mean", "sd"]
    assert len(table) == 2 * len(METRICS)
    roc = roc_table({"ours": r})
    assert list(roc.columns) == ["method", "fpr", "tpr_mean", "tpr_sd"] and len(roc) == 11
    assert list(PAPER_TABLE4.columns) == list(table.columns)
    assert PAPER_TABLE4.set_index(["method", "metric"]).loc[("ours", "auc"), "mean"] == 0.763
    assert set(PAPER_FIG8_AUC["method"]) == {"ours", "hdog", "fpn"}


# ------------------------------------------------------------------ ROI segmentation


def _dots(shape=(64, 64), centres=((32, 16),), amplitude=0.1, sigma=2.0, background=0.3):
    """Flat background with bright Gaussian dots at (row, col) centres."""
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    img = np.full(shape, background)
    for r, c in centres:
        img += amplitude * np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * sigma**2))
    return img.astype(np.float32)


class _LeftHalf:
    """Stub regression network: proximity 1 on the left half of every window, 0 elsewhere.

    Records the input shapes it is called with.
    """

    def __new__(cls):
        import torch

        class Stub(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.calls = []

            def forward(self, x):
                self.calls.append(tuple(x.shape))
                out = torch.zeros_like(x)
                out[..., : x.shape[-1] // 2] = 1.0
                return out

        return Stub()


@pytest.mark.parametrize("method", ["hdog", "ciecholewski"])
def test_bright_dot_is_segmented(method):
    from hdogreg.casestudy import segment_roi

    roi = _dots(centres=((32, 20),))
    seg = segment_roi(roi, method)
    assert seg.dtype == np.int32 and seg.shape == roi.shape
    assert seg[32, 20] > 0
    assert seg.max() == 1  # one object
    assert seg[0:8, 0:8].max() == 0 and seg[56:, 56:].max() == 0  # background stays empty
    assert segment_roi(np.full((64, 64), 0.3, np.float32), method).max() == 0  # flat: nothing


def test_hessian_rule_of_the_params_reaches_the_blob_segmentation():
    from hdogreg.casestudy import segment_roi
    from hdogreg.hdog import hdog_segment
    from hdogreg.pipeline import SegmentParams

    roi = _dots(centres=((32, 20), (20, 44)), amplitude=0.05)
    roi = roi + np.random.default_rng(0).normal(0, 0.004, roi.shape).astype(np.float32)
    segs = {}
    for rule in ("paper", "code"):
        segs[rule] = segment_roi(roi, "hdog", params=SegmentParams(hessian_rule=rule))
        np.testing.assert_array_equal(segs[rule], hdog_segment(roi, hessian_rule=rule).labels)
    assert (segs["paper"] > 0).sum() > (segs["code"] > 0).sum()   # the rule made a difference
    with pytest.raises(ValueError, match="hessian_rule must be one of .*'bogus'"):
        SegmentParams(hessian_rule="bogus")


def test_ours_keeps_only_candidates_inside_the_map_and_fpn_is_the_map():
    from hdogreg.casestudy import SEGMENTATION_METHODS, roi_segmentations
    from hdogreg.pipeline import SegmentParams

    roi = _dots(centres=((32, 14), (32, 50)))  # one dot in each half
    model = _LeftHalf()
    segs = roi_segmentations(roi, SEGMENTATION_METHODS, model=model,
                             params=SegmentParams(p_thr=0.5))
    assert list(segs) == list(SEGMENTATION_METHODS)
    assert segs["hdog"][32, 14] > 0 and segs["hdog"][32, 50] > 0
    assert segs["ours"][32, 14] > 0 and segs["ours"][32, 50] == 0  # right dot rejected by the map
    assert segs["ours"].max() == 1
    np.testing.assert_array_equal(segs["fpn"] > 0, np.arange(64)[None, :].repeat(64, 0) < 32)
    assert segs["fpn"].max() == 1
    assert model.calls == [(1, 1, 64, 64)]  # the network runs once for "ours" and "fpn"
    # a threshold sweep adds (method, p) entries without another network pass
    segs = roi_segmentations(roi, ["ours", "hdog", "fpn"], model=model,
                             params=SegmentParams(p_thr=0.5), p_thrs=(0.5, 1.5))
    assert list(segs) == ["ours", "hdog", "fpn", ("ours", 0.5), ("ours", 1.5), ("fpn", 0.5),
                          ("fpn", 1.5)]
    np.testing.assert_array_equal(segs[("ours", 0.5)], segs["ours"])
    np.testing.assert_array_equal(segs[("fpn", 0.5)], segs["fpn"])
    assert segs[("ours", 1.5)].max() == 0 and segs[("fpn", 1.5)].max() == 0
    assert len(model.calls) == 2
    with pytest.raises(ValueError, match="p_thrs"):
        roi_segmentations(roi, ["fpn"], model=model, p_thrs=(0.5, 0.5))
    # the FPN-only threshold is its own parameter: above the map's maximum nothing is left
    segs = roi_segmentations(roi, ["fpn"], model=model, params=SegmentParams(p_thr=0.5),
                             fpn_threshold=1.5)
    assert segs["fpn"].max() == 0


def test_roi_proximity_uses_one_window_per_roi():
    from hdogreg.casestudy import roi_proximity

    model = _LeftHalf()
    pmap = roi_proximity(model, np.zeros((256, 256), np.float32))
    assert pmap.shape == (256, 256) and model.calls == [(1, 1, 256, 256)]
    model.calls.clear()
    pmap = roi_proximity(model, np.zeros((100, 70), np.float32))  # mirrored up to 128
    assert pmap.shape == (100, 70) and model.calls == [(1, 1, 128, 128)]


def test_segment_roi_validation():
    from hdogreg.casestudy import roi_segmentations, segment_roi

    roi = _dots()
    with pytest.raises(ValueError, match="'bogus'"):
        segment_roi(roi, "bogus")
    with pytest.raises(ValueError, match="model="):
        segment_roi(roi, "ours")
    with pytest.raises(ValueError, match="model="):
        roi_segmentations(roi, ["hdog", "fpn"])
    with pytest.raises(ValueError, match="repeat"):
        roi_segmentations(roi, ["hdog", "hdog"])
    with pytest.raises(ValueError, match="at least one"):
        roi_segmentations(roi, [])
    with pytest.raises(ValueError, match="fpn_threshold"):
        roi_segmentations(roi, ["fpn"], model=_LeftHalf(), fpn_threshold=np.nan)
    with pytest.raises(ValueError, match="2-D"):
        segment_roi(np.zeros((4, 4, 4)), "hdog")


def _file_cohort(tmp_path):
    """Two images saved as .npy files with bright dots, three ROIs, two pixel spacings."""
    a = _dots((300, 400), centres=((100, 100), (110, 130), (280, 380)))
    b = _dots((200, 200), centres=((40, 40),))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    cohort = pd.DataFrame(
        {
            "roi_id": ["r1", "r2", "r3"],
            "patient_id": ["p1", "p1", "p2"],
            "image": [tmp_path / "a.npy", tmp_path / "a.npy", tmp_path / "b.npy"],
            "x0": [90, 350, 20], "y0": [90, 250, 20], "x1": [120, 400, 60], "y1": [110, 300, 60],
            "label": [0, 0, 1],
            "pixel_spacing": [0.05, 0.05, 0.1],
        }
    )

    def load(path, spacing):
        return np.load(path), spacing

    return cohort, load


def test_load_roi(tmp_path):
    from hdogreg.casestudy import load_roi

    cohort, load = _file_cohort(tmp_path)
    row = cohort.iloc[1]
    roi, spacing, box = load_roi(row, 128, load=load)
    assert box == fixed_box((350, 250, 400, 300), 128, shape=(300, 400))
    np.testing.assert_array_equal(roi, crop(np.load(tmp_path / "a.npy"), box))
    assert spacing == 0.05
    roi2, _, box2 = load_roi(next(cohort.itertuples(index=False)), 128, load=load)  # namedtuple
    assert roi2.shape == (128, 128) and box2 == fixed_box((90, 90, 120, 110), 128, shape=(300, 400))


def test_casestudy_features_all_methods_and_cache(tmp_path, monkeypatch):
    import hdogreg.casestudy as cs
    from hdogreg.features import FEATURE_NAMES
    from hdogreg.pipeline import SegmentParams

    cohort, load = _file_cohort(tmp_path)
    model, params = _LeftHalf(), SegmentParams(p_thr=0.5)
    cache = tmp_path / "cache"
    tables = cs.casestudy_features(cohort, model=model, params=params, size=128, load=load,
                                   cache_dir=cache, progress=False)
    assert list(tables) == list(cs.SEGMENTATION_METHODS)
    assert len(model.calls) == len(cohort)  # one forward pass per ROI for "ours" and "fpn"
    for table in tables.values():
        assert list(table.index) == ["r1", "r2", "r3"] and table.index.name == "roi_id"
        assert list(table.columns) == list(FEATURE_NAMES)
    # physical units: the same dot measured at two pixel spacings
    hd = tables["hdog"]
    assert hd.loc["r1", "region_n_mcs"] == 2 and hd.loc["r3", "region_n_mcs"] == 1
    mask = cs.segment_roi(cs.load_roi(cohort.iloc[2], 128, load=load)[0], "hdog") > 0
    assert hd.loc["r3", "region_area_mm2"] == pytest.approx(mask.sum() * 0.1**2)
    assert len(list(cache.glob("features-*.csv"))) == 1

    # second call: read from the cache, nothing segmented
    def boom(*args, **kwargs):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(cs.cohort, "roi_segmentations", boom)
    again = cs.casestudy_features(cohort, model=model, params=params, size=128, load=load,
                                  cache_dir=cache, progress=False)
    for method in tables:
        pd.testing.assert_frame_equal(again[method], tables[method], check_exact=True)
    monkeypatch.undo()
    # a sweep: extra (method, p) tables, written to and read from the cache alike
    swept = cs.casestudy_features(cohort, ["ours", "hdog"], model=model, params=params,
                                  p_thrs=(0.5, 2.0), size=128, load=load, cache_dir=cache,
                                  progress=False)
    assert list(swept) == ["ours", "hdog", ("ours", 0.5), ("ours", 2.0)]
    pd.testing.assert_frame_equal(swept[("ours", 0.5)], tables["ours"], check_exact=True)
    assert swept[("ours", 2.0)].isna().all().all()  # nothing kept: all features missing
    monkeypatch.setattr(cs.cohort, "roi_segmentations", boom)
    again = cs.casestudy_features(cohort, ["ours", "hdog"], model=model, params=params,
                                  p_thrs=(0.5, 2.0), size=128, load=load, cache_dir=cache,
                                  progress=False)
    assert list(again) == list(swept)
    for key in swept:
        pd.testing.assert_frame_equal(again[key], swept[key], check_exact=True)
    monkeypatch.undo()
    # any change of parameters, weights or methods is a new key
    keys = {
        cs.features_cache_key(cohort, cs.SEGMENTATION_METHODS, model=model, params=params, size=128),
        cs.features_cache_key(cohort, cs.SEGMENTATION_METHODS, model=model,
                              params=params.replace(o_thr=0.5), size=128),
        cs.features_cache_key(cohort, ["hdog"], model=model, params=params, size=128),
        cs.features_cache_key(cohort, cs.SEGMENTATION_METHODS, model=model, params=params, size=64),
        cs.features_cache_key(cohort, cs.SEGMENTATION_METHODS, model=model, params=params,
                              size=128, p_thrs=(0.1,)),
    }
    keys.add(cs.features_cache_key(cohort, cs.SEGMENTATION_METHODS, model=model,
                                   params=params.replace(hessian_rule="paper"), size=128))
    assert len(keys) == 6
    # changing an image's bytes changes the key
    before = cs.features_cache_key(cohort, ["hdog"], size=128)
    np.save(tmp_path / "b.npy", np.load(tmp_path / "b.npy") + 0.01)
    assert cs.features_cache_key(cohort, ["hdog"], size=128) != before


def test_casestudy_features_validation(tmp_path):
    from hdogreg.casestudy import casestudy_features

    cohort, load = _file_cohort(tmp_path)
    with pytest.raises(ValueError, match="model="):
        casestudy_features(cohort, ["ours"], load=load, progress=False)
    with pytest.raises(ValueError, match="missing columns"):
        casestudy_features(cohort.drop(columns="x0"), ["hdog"], load=load, progress=False)
    with pytest.raises(ValueError, match="'r1' appears more than once"):
        casestudy_features(cohort.assign(roi_id="r1"), ["hdog"], load=load, progress=False)


def test_paper_comparison():
    from hdogreg.casestudy import paper_comparison

    ours = pd.DataFrame({"method": ["ours", "ours", "fpn"], "metric": ["auc", "ppv", "auc"],
                         "mean": [0.8, 0.5, 0.6], "sd": [0.1, 0.1, 0.1]})
    table = paper_comparison(ours)
    assert list(table.columns) == ["method", "metric", "mean", "sd", "paper_mean", "paper_sd"]
    assert table["mean"].tolist() == [0.8, 0.5, 0.6]  # order of our table kept
    assert table["paper_mean"].tolist()[:2] == [0.763, 0.490]
    assert np.isnan(table["paper_mean"].iloc[2])  # not in Table 4
    fig8 = paper_comparison(ours, PAPER_FIG8_AUC)
    assert fig8["paper_mean"].iloc[0] == 0.763 and np.isnan(fig8["paper_mean"].iloc[1])
    with pytest.raises(ValueError, match="missing columns"):
        paper_comparison(ours.drop(columns="sd"))


def test_comparison_display_layout():
    from hdogreg.casestudy import comparison_display, paper_comparison

    ours = pd.DataFrame({"method": ["ours", "ours", "fpn"], "metric": ["auc", "ppv", "auc"],
                         "mean": [0.8, 0.5, 0.6], "sd": [0.1, 0.02, 0.1]})
    shown = comparison_display(paper_comparison(ours), paper_label="paper (Table 4)",
                               metrics=("auc", "ppv"))
    assert list(shown.index) == ["auc", "ppv"]
    assert list(shown.columns) == [("ours", "this run"), ("ours", "paper (Table 4)"),
                                   ("fpn", "this run"), ("fpn", "paper (Table 4)")]
    assert shown.loc["ppv", ("ours", "this run")] == "0.500 ± 0.020"
    assert shown.loc["auc", ("ours", "paper (Table 4)")] == "0.763 ± " + \
        "{:.3f}".format(PAPER_TABLE4.query("method == 'ours' and metric == 'auc'")["sd"].item())
    assert shown.loc["auc", ("fpn", "paper (Table 4)")] == "not reported"
    assert pd.isna(shown.loc["ppv", ("fpn", "this run")])  # fpn has no ppv in our table
    with pytest.raises(ValueError, match="must differ"):
        comparison_display(paper_comparison(ours), paper_label="this run")


def test_threshold_sweep_picks_the_informative_threshold():
    from hdogreg.casestudy import threshold_sweep

    X, y, patient = _cohort(n_patients=40, signal=2.0, seed=5, n_noise=2, missing=0.0)
    rng = np.random.default_rng(1)
    noise = pd.DataFrame(rng.normal(size=X.shape), index=X.index, columns=X.columns)
    tables = {"ours": X, ("ours", 0.1): noise, ("ours", 0.5): X, ("fpn", 0.2): noise}
    sweep = threshold_sweep(tables, y, patient, n_splits=3, classifier=_light)
    assert list(sweep.columns) == ["method", "p_thr", "auc_mean", "auc_sd", "best"]
    assert sweep[["method", "p_thr"]].values.tolist() == [["fpn", 0.2], ["ours", 0.1], ["ours", 0.5]]
    assert sweep.loc[sweep.best, "p_thr"].tolist() == [0.2, 0.5]  # one best per method
    ours = sweep[sweep.method == "ours"].set_index("p_thr")["auc_mean"]
    assert ours[0.5] > 0.75 and ours[0.1] < ours[0.5]
    with pytest.raises(ValueError, match="p_thrs"):
        threshold_sweep({"ours": X}, y, patient)


def test_chosen_tables_take_the_best_sweep_threshold():
    from hdogreg.casestudy import chosen_tables

    a, b, c, h = (pd.DataFrame({"f": [i]}) for i in range(4))
    features = {"ours": a, ("ours", 0.1): b, ("ours", 0.5): c, "fpn": a, ("fpn", 0.2): b, "hdog": h}
    sweep = pd.DataFrame({"method": ["fpn", "ours", "ours"], "p_thr": [0.2, 0.1, 0.5],
                          "best": [True, False, True]})
    chosen, tables = chosen_tables(features, sweep, p_thr=0.01)
    assert chosen == {"fpn": 0.2, "ours": 0.5}
    assert tables["ours"] is c and tables["fpn"] is b and tables["hdog"] is h
    chosen, tables = chosen_tables(features, None, p_thr=0.01)
    assert chosen == {"ours": 0.01, "fpn": 0.01} and tables["ours"] is a


# ------------------------------------------------------------------ the whole study


def _study_folder(tmp_path, n_patients=6):
    """``<tmp>/casestudy/cohort.csv`` with one 16-bit PNG per patient, two ROIs each."""
    import imageio.v3 as iio

    folder = tmp_path / "casestudy"
    folder.mkdir()
    rows = []
    for p in range(n_patients):
        label = p % 2
        centres = ((40, 40), (48, 60)) if label else ((40, 40),)
        image = _dots((128, 128), centres=centres, amplitude=0.2 + 0.05 * p)
        iio.imwrite(folder / f"im{p}.png", np.round(image * 65535).astype(np.uint16))
        for k, (x0, y0) in enumerate(((30, 30), (70, 70))):
            rows.append({"roi_id": f"r{p}{k}", "patient_id": f"p{p}", "image": f"im{p}.png",
                         "x0": x0, "y0": y0, "x1": x0 + 20, "y1": y0 + 20, "label": label,
                         "pixel_spacing": 0.05})
    pd.DataFrame(rows).to_csv(folder / "cohort.csv", index=False)
    return tmp_path


def test_casestudy_config_from_parameters():
    from hdogreg.casestudy import CaseStudyConfig

    config = CaseStudyConfig.from_parameters({"roi_size": 64, "p_thr_grid": [0.1, 0.2], "n_gallery": 3})
    assert config.roi_size == 64 and config.p_thr_grid == (0.1, 0.2)
    assert config.n_splits == CaseStudyConfig().n_splits  # missing fields keep their defaults


def test_casestudy_config_hdog_kwargs_set_the_segment_params():
    from hdogreg.casestudy import CaseStudyConfig
    from hdogreg.hessian import DEFAULT_RULE
    from hdogreg.pipeline import SegmentParams

    config = CaseStudyConfig(o_thr=0.4, hdog_kwargs={"h_thr": 2.0, "hessian_rule": "paper"})
    assert config.segment_params(0.2) == SegmentParams(p_thr=0.2, o_thr=0.4, h_thr=2.0, hessian_rule="paper")
    assert CaseStudyConfig().segment_params(0.2).hessian_rule == DEFAULT_RULE == "code"
    with pytest.raises(ValueError, match=r"hdog_kwargs: \['p_thr'\] are not blob-segmentation settings"):
        CaseStudyConfig(hdog_kwargs={"p_thr": 0.5})


@pytest.mark.parametrize("tune", [False, True])
def test_run_casestudy_is_the_steps_it_composes(tmp_path, monkeypatch, tune):
    import hdogreg.evaluation.models as models
    from hdogreg.casestudy import (
        CaseStudyConfig,
        casestudy_features,
        chosen_tables,
        cross_validate,
        run_casestudy,
        threshold_sweep,
    )
    from hdogreg.data import read_casestudy_cohort
    from hdogreg.pipeline import SegmentParams

    data = _study_folder(tmp_path)
    model = _LeftHalf()
    monkeypatch.setattr(models, "default_model", lambda *a, **k: (model, {"p_thr": 0.5}, tmp_path / "m.pt"))
    config = CaseStudyConfig(data_dir=str(data), roi_size=64, tune_thresholds=tune, p_thr_grid=(0.5, 2.0),
                             n_splits=2, threshold_from="train", xgb_settings={"n_estimators": 10},
                             use_cache=False)
    run = run_casestudy(config, ("ours", "hdog"))
    assert list(run.results) == list(run.tables) == ["ours", "hdog"]

    # the same numbers, step by step
    cohort = read_casestudy_cohort(data / "casestudy")
    params = SegmentParams(p_thr=0.5)
    features = casestudy_features(cohort, model=model, params=params, size=64,
                                  p_thrs=(0.5, 2.0) if tune else (), progress=False)
    y, groups = cohort["label"].to_numpy(), cohort["patient_id"].to_numpy()
    sweep = (threshold_sweep(features, y, groups, n_splits=2, classifier=config.classifier())
             if tune else None)
    chosen, tables = chosen_tables(features, sweep, p_thr=0.5)
    assert run.chosen == chosen and run.params.p_thr == chosen["ours"]
    for m in ("ours", "hdog"):
        pd.testing.assert_frame_equal(run.tables[m], tables[m])
        expected = cross_validate(tables[m], y, groups, n_splits=2, threshold_from="train",
                                  classifier=config.classifier(), progress=False)
        pd.testing.assert_frame_equal(run.results[m].summary, expected.summary)
    assert set(run.results_table()["method"]) == {"ours", "hdog"}
    roi, spacing, segs = run.segment(cohort.iloc[0], ("hdog",))
    assert roi.shape == segs["hdog"].shape and spacing == 0.05


def test_gallery_rows_per_class():
    from hdogreg.casestudy import gallery_rows

    cohort = pd.DataFrame({"roi_id": list("abcdef"), "label": [0, 1, 0, 1, 0, 0]})
    rows = gallery_rows(cohort, 3, seed=1)
    assert rows["label"].tolist() == [0, 0, 0, 1, 1]  # only two malignant ROIs exist
    assert rows.equals(gallery_rows(cohort, 3, seed=1))


# ------------------------------------------------------------------ page tables


def test_cohort_table_describes_the_cohort_beside_the_paper():
    from hdogreg.casestudy import PAPER_COHORT, cohort_table

    cohort = pd.DataFrame({"patient_id": ["a", "a", "b", "c"], "label": [1, 1, 0, 0],
                           "pixel_spacing": [0.05, 0.05, 0.04, 0.05]})
    t = cohort_table(cohort, "toy")
    assert t.loc["this run", "ROIs"] == 4 and t.loc["this run", "patients"] == 3
    assert t.loc["this run", "malignant ROIs"] == "50.0%"
    assert t.loc["this run", "pixel spacing (mm)"] == "0.0400, 0.0500"
    assert t.loc["paper", "ROIs"] == PAPER_COHORT["n_rois"] == 674
    assert t.loc["paper", "malignant ROIs"] == "42.1%"    # 284 of 674, as the paper prints
    assert PAPER_COHORT["n_benign"] + PAPER_COHORT["n_malignant"] == PAPER_COHORT["n_rois"]


def test_segmentation_overview_and_class_medians():
    from hdogreg.casestudy import class_medians, segmentation_overview

    cohort = pd.DataFrame({"pixel_spacing": [0.05, 0.05, 0.1]})
    tables = {"ours": pd.DataFrame({"region_n_mcs": [3, np.nan, 5], "region_area_mm2": [1.0, np.nan, 2.0]}),
              "hdog": pd.DataFrame({"region_n_mcs": [9, 7, 8], "region_area_mm2": [4.0, 3.0, 5.0]})}
    o = segmentation_overview(tables, cohort, 100)
    assert o.loc["ours", "empty segmentations"] == 1 and o.loc["hdog", "empty segmentations"] == 0
    assert o.loc["ours", "median MCs per ROI"] == 4 and o.loc["hdog", "median segmented area (mm²)"] == 4.0
    assert o.loc["ours", "ROI area (mm²)"] == pytest.approx(25.0)     # (100 px * 0.05 mm)^2
    m = class_medians(tables, [1, 0, 1], ["region_n_mcs"], names={"ours": "our approach"})
    assert m.loc[("our approach", "malignant"), "region_n_mcs"] == 4.0
    assert m.loc[("hdog", "benign"), "region_n_mcs"] == 7.0


def test_fold_differences_pair_the_folds():
    import types

    from hdogreg.casestudy import fold_differences

    folds = {"a": pd.DataFrame({"fold": [0, 1, 2], "auc": [0.7, 0.8, 0.6]}),
             "b": pd.DataFrame({"fold": [0, 1, 2], "auc": [0.6, 0.85, 0.6]}),
             "c": pd.DataFrame({"fold": [0, 1], "auc": [0.5, 0.5]})}
    results = {k: types.SimpleNamespace(folds=v) for k, v in folds.items()}
    gap = fold_differences(results, "a", "b")
    np.testing.assert_allclose(gap.to_numpy(), [0.1, -0.05, 0.0], atol=1e-12)
    assert list(gap.index) == [0, 1, 2]
    with pytest.raises(ValueError, match="same folds"):
        fold_differences(results, "a", "c")
