"""The robustness study (hdogreg.robustness) on hand-made scores and the tiny benchmark."""

import numpy as np
import pytest

from hdogreg import evaluation as ev
from hdogreg import robustness as rb
from hdogreg.evaluation import ImageScores


def _scores(pred_centres, scores, ref_centres, shape=(60, 60), area=1.0, fid="a"):
    pred = np.zeros(shape, np.int32)
    ref = np.zeros(shape, np.int32)
    for i, (r, c) in enumerate(pred_centres, start=1):
        pred[r - 1 : r + 2, c - 1 : c + 2] = i
    for i, (r, c) in enumerate(ref_centres, start=1):
        ref[r - 1 : r + 2, c - 1 : c + 2] = i
    return ImageScores(fid, fid, None, pred, np.asarray(scores, float), ref, area)


def _operating_point(scores, threshold):
    """(TPR, FP/cm^2) at `threshold`, read off the pooled FROC curve as the study does."""
    fp, tpr = ev.operating_point(ev.detection_summary(scores, n_boot=1), threshold)
    return tpr, fp


def test_operating_point_counts_only_detections_at_or_above_the_threshold():
    # two MCs; candidates: one on MC 1 (0.9), one on MC 2 (0.4), two false (0.8, 0.2)
    s = _scores([(10, 10), (30, 30), (50, 10), (10, 50)], [0.9, 0.4, 0.8, 0.2],
                [(10, 10), (30, 30)], area=2.0)
    assert _operating_point([s], 0.5) == (0.5, 0.5)        # 1 TP of 2, 1 FP on 2 cm^2
    assert _operating_point([s], 0.4) == (1.0, 0.5)
    assert _operating_point([s], 0.0) == (1.0, 1.0)
    # pooled over images: sums, not means
    t = _scores([(10, 10)], [1.0], [(10, 10), (30, 30), (50, 50)], area=6.0, fid="b")
    tpr, fp = _operating_point([s, t], 0.5)
    assert tpr == pytest.approx(2 / 5) and fp == pytest.approx(1 / 8)


def test_perturbed_images_leave_the_inputs_alone(tiny):
    images = ev.load_split(tiny, "test")
    before = [m.image.copy() for m in images]
    low = rb.perturbed_images(images, "x0.25")
    for m, b, p in zip(images, before, low):
        np.testing.assert_array_equal(m.image, b)
        np.testing.assert_allclose(p.image, 0.25 * b, rtol=1e-6)
        assert p.file_id == m.file_id and p.annotations is m.annotations
    with pytest.raises(ValueError, match="unknown perturbation 'x3'"):
        rb.perturbed_images(images, "x3")


def test_spread_summary_and_table_on_the_tiny_benchmark(tiny):
    images = ev.load_split(tiny, "test")[:2]
    cie = rb.ciecholewski_method()
    raw = rb.ciecholewski_method("Ciecholewski (raw)", normalize="none")
    conditions = [("original", "intensity", images),
                  ("x4", "intensity", lambda: rb.perturbed_images(images, "x4")),
                  ("0.14 mm", "spacing", lambda: rb.spacing_twins(tiny, images, 0.14))]
    table, curves = rb.robustness_table([cie, raw], conditions, n_boot=2, progress=False)
    assert list(table["condition"]) == ["original"] * 2 + ["x4"] * 2 + ["0.14 mm"] * 2
    assert set(curves) == {(m, c) for m in table["method"] for c in table["condition"]}
    assert table["n_ref"].gt(0).all()
    # standardised: x4 is the same image after standardisation, so the same result
    std = table[table["method"] == "Ciecholewski"].set_index("condition")
    assert std.loc["x4", "tpr_op"] == pytest.approx(std.loc["original", "tpr_op"], abs=1e-9)
    assert std.loc["x4", "fp_op"] == pytest.approx(std.loc["original", "fp_op"], rel=1e-6)
    summary = rb.spread_summary(table)
    assert list(summary.index) == ["Ciecholewski", "Ciecholewski (raw)"]
    for name, row in summary.iterrows():
        sub = table[table["method"] == name]
        assert row["spread"] == pytest.approx(sub["tpr04"].max() - sub["tpr04"].min())
        assert row["fp_op_max"] == pytest.approx(sub["fp_op"].max())
    only = rb.spread_summary(table, kinds=["intensity"])
    assert (only["n_conditions"] == 2).all()
    lead = rb.lead_over(table, "Ciecholewski (raw)")
    assert list(lead.index) == ["original", "x4", "0.14 mm"] and list(lead.columns) == ["Ciecholewski"]
    for cond, d in lead["Ciecholewski"].items():
        by = table[table["condition"] == cond].set_index("method")["tpr04"]
        assert d == pytest.approx(by["Ciecholewski"] - by["Ciecholewski (raw)"])
    with pytest.raises(ValueError, match="not a method of the table"):
        rb.lead_over(table, "nobody")
    frame = rb.curves_frame(curves)
    assert set(frame.columns) == {"method", "condition", "threshold", "fp_per_cm2", "tpr"}
    assert np.isfinite(frame[["threshold", "fp_per_cm2"]]).all().all()
    for _, rows in frame.groupby(["method", "condition"]):
        # a curve's FP rate falls as its threshold rises
        rows = rows.sort_values("threshold")
        assert rows["fp_per_cm2"].is_monotonic_decreasing


def test_methods_need_a_threshold_or_validation_images():
    with pytest.raises(ValueError, match="give a threshold or validation images"):
        rb.fusion_method("ours", object(), None)
    m = rb.fusion_method("ours", object(), None, threshold=0.25)
    assert m.threshold == 0.25 and isinstance(m, rb.Method)


def test_a_fusion_method_describes_its_whole_operating_point():
    from hdogreg.pipeline import SegmentParams

    m = rb.fusion_method("ours", object(), SegmentParams(dog_threshold=0.0035, o_thr=0.3), threshold=1e-4)
    assert m.describe() == "ours: operating point 0.0001 (p_thr; T_DoG 0.0035, o_thr 0.3)"
    assert rb.ciecholewski_method().describe() == "Ciecholewski: operating point 1"


def test_threshold_on_gives_the_fp_rate_asked_for_on_validation():
    s = _scores([(10, 10), (30, 30), (50, 10), (10, 50)], [0.9, 0.4, 0.8, 0.2],
                [(10, 10), (30, 30)], area=2.0)
    method = rb.Method("hand", lambda images: images)
    th = rb.threshold_on(method, [s], fp_at=0.5)
    assert th == pytest.approx(0.4)          # FP 0.5/cm^2 (one FP) and both MCs kept
    assert _operating_point([s], th) == (1.0, 0.5)


# ----------------------------------------------------------------------------- the shipped model


@pytest.fixture(scope="module")
def twin_bench(tmp_path_factory):
    """A small benchmark of breast-sized views, every image with a cluster (dense counts)."""
    from hdogreg.data.synth import Preset, generate

    preset = Preset("twins", n_cases=10, shape=(768, 640), views=("CC",), n_local_cases=1,
                    n_case_patients=2, n_case_rois=2, case_shape=(160, 160), count_model="dense")
    return generate(tmp_path_factory.mktemp("twins") / "bench", seed=3, preset=preset,
                    progress=False)


def test_a_twin_generated_at_0p1_mm_scores_like_its_0p07_mm_original(twin_bench):
    """Issue 13: TPR at 0.4 FP/cm^2 of the 0.1 mm twins within 0.05 of the 0.07 mm images."""
    from hdogreg.data import InbreastDataset
    from hdogreg.inference import FAST_STRIDE
    from hdogreg.pipeline import SegmentParams
    from hdogreg.store import load_model, shipped_model_path

    model, settings = load_model(shipped_model_path())
    params = SegmentParams.from_checkpoint(settings, stride=FAST_STRIDE)   # its operating point
    images = [InbreastDataset(twin_bench).load(f) for f in InbreastDataset(twin_bench).file_ids()]
    twins = rb.spacing_twins(twin_bench, images, 0.1)
    assert all(t.pixel_spacing == 0.1 and t.image.shape == (538, 448) for t in twins)
    det07 = ev.detection_summary(ev.score_split(model, images, params, cache=False, progress=False),
                                 n_boot=1)
    det10 = ev.detection_summary(ev.score_split(model, twins, params, cache=False, progress=False),
                                 n_boot=1)
    assert det07.n_ref > 100 and det10.n_ref > 100
    assert det07.tpr_at > 0.3                      # the model finds MCs at all
    assert abs(det10.tpr_at - det07.tpr_at) <= 0.05, (det07.tpr_at, det10.tpr_at)


@pytest.mark.parametrize("a, b", [(0.25, 0.0), (4.0, 0.0), (0.25, 0.05), (4.0, 0.05)])
def test_the_shipped_model_finds_the_same_objects_under_affine_intensity(tiny, a, b):
    """Issue 13: segment_mammogram(a * img + b) with the shipped network at its operating point."""
    from hdogreg.pipeline import SegmentParams, segment_mammogram
    from hdogreg.store import load_model, shipped_model_path

    model, settings = load_model(shipped_model_path())
    params = SegmentParams.from_checkpoint(settings, window=256, stride=256)
    m = ev.load_split(tiny, "test")[0]
    ref = segment_mammogram(m, model, params, progress=False)
    res = segment_mammogram(a * m.image + b, model, params, pixel_spacing=m.pixel_spacing,
                            progress=False)
    assert ref.fusion.n_objects > 0
    # near-exact: the standardised images agree to float rounding, so a DoG peak within
    # rounding of the threshold may flip (it does for a = 0.25, b = 0.05: one candidate)
    assert abs(res.hdog.n_objects - ref.hdog.n_objects) <= 1
    assert (res.hdog.mask != ref.hdog.mask).sum() <= 0.01 * ref.hdog.mask.sum()
    np.testing.assert_allclose(res.pmap, ref.pmap, atol=1e-4)          # float rounding only
    np.testing.assert_array_equal(res.labels, ref.labels)              # the same objects
