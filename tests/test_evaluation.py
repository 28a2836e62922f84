"""Evaluation orchestration: budgets, scoring, FROC/segmentation summaries, experiments.

Most tests use an "oracle" network that returns the reference proximity map of the image it
is shown (tiny images fit one inference window) and a constant-zero network: the plumbing
must give the oracle a high pAUC and the zero network none.
"""


import numpy as np
import pandas as pd
import pytest
import torch

from hdogreg import evaluation as ev
from hdogreg.pipeline import SegmentParams, native_input
from hdogreg.proximity import proximity_map

WINDOW = 512  # >= the tiny images (320 x 256): one window per image, at the origin
PARAMS = SegmentParams(window=WINDOW, stride=WINDOW, batch_size=1)


@pytest.fixture(autouse=True)
def build_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HDOGREG_BUILD", str(tmp_path / "build"))
    monkeypatch.delenv("HDOGREG_MODELS", raising=False)
    monkeypatch.delenv("HDOGREG_RESULTS", raising=False)
    return tmp_path / "build"


class Oracle(torch.nn.Module):
    """Returns the proximity map of the known image whose pixels fill the window's top-left."""

    def __init__(self, images):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        # the network sees the image prepared by the pipeline (standardised, at 0.07 mm)
        self.items = [(native_input(m.image, PARAMS.normalize, pixel_spacing=m.pixel_spacing).image,
                       proximity_map(m.mc_mask(), xi=10, alpha=1.0)) for m in images]
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = torch.zeros_like(x)
        for i in range(x.shape[0]):
            win = x[i, 0].numpy()
            for image, pmap in self.items:
                h, w = image.shape
                if np.array_equal(win[:h, :w], image):
                    out[i, 0, :h, :w] = torch.from_numpy(pmap)
        return out


class Zero(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros_like(x)


# ----------------------------------------------------------------------------- budgets


def test_default_train_config_budgets():
    from hdogreg.training import TrainConfig

    cpu = ev.default_train_config()
    assert cpu == TrainConfig()  # the walkthrough's TrainConfig() shares the cached model
    assert (cpu.xi, cpu.alpha) == (10.0, 1.0)
    paper = ev.default_train_config("paper")
    assert (paper.epochs, paper.batch_size, paper.encoder, paper.patch, paper.stride, paper.crop) == (
        40, 8, "inceptionv4", 512, 480, 320)
    assert ev.default_train_config(epochs=1).epochs == 1
    with pytest.raises(ValueError, match="budget"):
        ev.default_train_config("gpu")


def test_grid_train_config_is_shorter_and_sets_the_cell():
    cell = ev.grid_train_config(6, -2)
    assert (cell.xi, cell.alpha) == (6.0, -2.0)
    cpu = ev.default_train_config()
    assert cell.epochs * cell.steps_per_epoch < cpu.epochs * cpu.steps_per_epoch
    assert ev.grid_train_config(8, 1, "paper").epochs == 40
    assert ev.grid_train_config(8, 1, epochs=1).epochs == 1


# ----------------------------------------------------------------------------- hand-made scores


def _scores(labels, scores, ref, pid="p", fid="f", area=1.0):
    return ev.ImageScores(fid, pid, None, np.asarray(labels), np.asarray(scores, float), np.asarray(ref),
                          area)


def test_image_scores_at_filters_by_score():
    lab = np.array([[1, 0, 2, 0, 3]])
    s = _scores(lab, [0.9, 0.1, 0.5], np.zeros_like(lab))
    assert s.at(0.5).tolist() == [[1, 0, 0, 0, 3]]
    assert s.at(-np.inf).tolist() == lab.tolist()
    assert s.n_ref == 0


def test_segmentation_summary_known_values():
    ref = np.zeros((10, 10), int)
    ref[1:3, 1:3] = 1          # 4 px object
    ref[7, 7] = 2              # point annotation: no IoU per object
    lab = np.zeros((10, 10), int)
    lab[1:3, 1:4] = 1          # 6 px, overlaps object 1: IoU 4/6
    lab[5, 5] = 2              # false positive with a low score
    s = _scores(lab, [0.8, 0.2], ref)
    seg = ev.segmentation_summary([s], 0.5)
    row = seg.row()
    # MC class: |P&R| = 4, |P|R| = 6 + 1 (the point) = 7
    assert row["iou_mc"] == pytest.approx(4 / 7)
    assert row["miou"] == pytest.approx((4 / 7 + 93 / 96) / 2)
    assert row["iou_object"] == pytest.approx(4 / 6)
    assert row["n_objects"] == 1
    low = ev.segmentation_summary([s], 0.1).row()
    assert low["iou_mc"] == pytest.approx(4 / 8)
    assert ev.segmentation_summary([s]).row()["iou_mc"] == pytest.approx(4 / 8)  # no threshold: all


@pytest.mark.parametrize("spacing, found", [(0.07, True), (0.1, False), (0.05, True)])
def test_the_localisation_rule_is_in_millimetres(spacing, found):
    """A detection 4 px from its MC: 0.28 mm at 0.07 mm (a hit), 0.4 mm at 0.1 mm (a miss)."""
    ref = np.zeros((30, 30), int)
    ref[10, 10] = 1
    lab = np.zeros((30, 30), int)
    lab[14, 10] = 1
    s = ev.ImageScores("f", "p", None, lab, np.array([0.9]), ref, 1.0, spacing)
    det = ev.detection_summary([s], n_boot=1)
    assert det.tpr_at == (1.0 if found else 0.0)
    assert ev.ImageScores("f", "p", None, lab, np.array([0.9]), ref, 1.0).max_distance == 5.0


def test_detection_summary_and_operating_point_on_hand_made_curve():
    # two patients, one image each; 2 reference points per image
    ref = np.zeros((20, 20), int)
    ref[5, 5], ref[15, 15] = 1, 2
    lab = np.zeros((20, 20), int)
    lab[5, 5], lab[15, 15], lab[10, 2], lab[2, 10] = 1, 2, 3, 4
    a = _scores(lab, [0.9, 0.6, 0.7, 0.3], ref, pid="a", fid="a", area=2.0)
    b = _scores(lab, [0.8, 0.5, 0.2, 0.1], ref, pid="b", fid="b", area=2.0)
    det = ev.detection_summary([a, b], n_boot=20, seed=1)
    # pooled: at t = 0.5 -> TP 4 of 4, FP 1 (a's 0.7) over 4 cm^2
    i = int(np.flatnonzero(det.thresholds == 0.5)[0])
    assert det.tpr[i] == 1.0 and det.fp_per_cm2[i] == pytest.approx(0.25)
    assert det.tpr[-1] == 0 and det.fp_per_cm2[-1] == 0  # +inf: nothing kept
    assert ev.choose_operating_point(det) == 0.5
    assert det.tpr_at == 1.0  # 0.25 <= 0.4
    assert det.n_patients == 2 and det.n_ref == 4 and det.n_images == 2
    assert det.pauc_lo <= det.pauc_mean <= det.pauc_hi
    band = det.band
    assert (np.diff(band["tpr"]) >= 0).all()
    assert (band["tpr_lo"] <= band["tpr_hi"] + 1e-12).all()
    assert band["tpr"].iloc[-1] == 1.0


def test_compare_segmentation_pairs_images_and_objects():
    rng = np.random.default_rng(0)
    ours, theirs = [], []
    for k in range(8):
        ref = np.zeros((12, 12), int)
        ref[2:6, 2:6] = 1
        good = np.zeros_like(ref)
        good[2:6, 2:6 + (k % 2)] = 1
        bad = np.zeros_like(ref)
        bad[3:6, 3:5 + int(rng.integers(0, 2))] = 1
        ours.append(_scores(good, [1.0], ref, fid=str(k)))
        theirs.append(_scores(bad, [1.0], ref, fid=str(k)))
    p = ev.compare_segmentation(ev.segmentation_summary(ours), ev.segmentation_summary(theirs))
    assert p["p_miou"] < 0.05 and p["p_iou_object"] < 0.05
    same = ev.compare_segmentation(ev.segmentation_summary(ours), ev.segmentation_summary(ours))
    assert np.isnan(same["p_miou"])


def test_grid_table_bolds_the_best_cell():
    frame = pd.DataFrame({"xi": [6, 8, 6, 8], "alpha": [1, 1, 2, 2], "v": [0.1, 0.4, 0.3, 0.2],
                          "pm": [0.01] * 4})
    text = ev.grid_table(frame, "v", "pm")
    assert text.count("**") == 2 and "**0.400 ± 0.010**" in text
    assert "| 2 | 0.300 ± 0.010 | 0.200 ± 0.010 |" in text
    paper = ev.paper_grid_table("pauc")
    assert "**0.819 ± 0.046**" in paper  # the paper's bold cell xi = 10, alpha = 1


# ----------------------------------------------------------------------------- on the tiny benchmark


def test_oracle_scores_high_and_zero_model_scores_nothing(tiny):
    val = ev.load_split(tiny, "val") + ev.load_split(tiny, "test")
    oracle, zero = Oracle(val), Zero()
    good = ev.score_split(oracle, val, PARAMS, progress=False)
    bad = ev.score_split(zero, val, PARAMS, progress=False)
    assert [s.file_id for s in good] == [m.file_id for m in val]
    assert all(s.breast_area_cm2 > 0 for s in good)
    det_good = ev.detection_summary(good, n_boot=10)
    det_bad = ev.detection_summary(bad, n_boot=10)
    # HDoG bounds the recall (all candidates kept = the highest TPR); the oracle keeps the
    # true candidates first, so its pAUC is close to that bound
    assert det_good.tpr.max() > 0.2
    assert det_good.pauc > 0.8 * det_good.tpr.max() and det_good.pauc_mean > 0.5 * det_good.tpr.max()
    assert det_bad.pauc == 0.0 and det_bad.tpr_at == 0.0
    p_thr = ev.choose_operating_point(det_good)
    seg_good = ev.segmentation_summary(good, p_thr).row()
    seg_bad = ev.segmentation_summary(bad, ev.choose_operating_point(det_bad)).row()
    assert seg_good["iou_mc"] > seg_bad["iou_mc"]
    frame = ev.froc_frame(det_good, method="oracle", split="val")
    assert {"method", "split", "metric", "fp_per_cm2", "value"} <= set(frame)
    assert frame.query("metric == 'pauc'")["value"].iloc[0] == pytest.approx(det_good.pauc)


def test_score_split_caches_proximity_maps_on_disk(tiny, build_dir):
    val = ev.load_split(tiny, "val")
    oracle = Oracle(val)
    first = ev.score_split(oracle, val, PARAMS, progress=False)
    calls = oracle.calls
    assert calls > 0 and any((build_dir / "cache" / "pmaps").iterdir())
    second = ev.score_split(oracle, val, PARAMS, progress=False)
    assert oracle.calls == calls  # no inference the second time
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.scores, b.scores)
    ev.score_split(oracle, val, PARAMS, progress=False, cache=False)
    assert oracle.calls > calls


def test_o_thr_sweep_rows(tiny):
    val = ev.load_split(tiny, "val")
    out = ev.o_thr_sweep(Oracle(val), val, (0.2, 0.6), PARAMS, n_boot=5, progress=False)
    assert out["o_thr"].tolist() == [0.2, 0.6]
    assert {"pauc_mean", "p_thr", "miou", "iou_object"} <= set(out)
    assert (out["pauc"] > 0.1).all()


def _baseline_scores(tiny, split):
    """A baseline split of the tiny benchmark's validation images, with the checks every split passes."""
    val = ev.load_split(tiny, "val")
    out = split(val, progress=False)
    assert len(out) == len(val)
    for s, m in zip(out, val):
        assert s.labels.shape == m.image.shape
        assert s.scores.size == int(s.labels.max()) and np.isfinite(s.scores).all()
    return out


def test_ciecholewski_split_has_no_threshold(tiny):
    out = _baseline_scores(tiny, ev.ciecholewski_split)
    assert all((s.scores == 1).all() for s in out)
    assert 0 <= ev.segmentation_summary(out).row()["miou"] <= 1


TINY_TRAIN = dict(epochs=1, steps_per_epoch=1, batch_size=2, patch=128, stride=128, crop=64,
                  max_val_patches=2, bn_recalibration_batches=1, pretrained=False)


def test_grid_search_and_default_model_on_tiny_budget(tiny, build_dir):
    params = SegmentParams(window=256, stride=256)
    out = ev.grid_search(tiny, xis=[10], alphas=[1, 2], params=params, n_boot=5, progress=False, **TINY_TRAIN)
    assert out[["xi", "alpha"]].values.tolist() == [[10, 1], [10, 2]]
    for col in ("pauc_mean", "pauc_lo", "pauc_hi", "pauc_pm", "miou", "miou_sd", "iou_mc", "iou_object",
                "iou_object_sd", "p_thr", "tpr_at_0.4"):
        assert col in out and out[col].notna().all(), col
    assert ((out["miou"] >= 0) & (out["miou"] <= 1)).all()
    model, settings, ckpt = ev.default_model(tiny, progress=False, **TINY_TRAIN)
    assert ckpt.is_file() and (build_dir / "models" / "default.pt").is_file()
    assert settings["xi"] == 10
    # trained once: the second call loads the cached run
    _, _, again = ev.default_model(tiny, progress=False, **TINY_TRAIN)
    assert again == ckpt
    ev.publish_default_model(ckpt, p_thr=0.25)
    ev.default_model(tiny, progress=False, **TINY_TRAIN)  # keeps the recorded p_thr
    import json

    assert json.loads((build_dir / "models" / "default.json").read_text())["p_thr"] == 0.25


def test_validated_default_model_chooses_and_publishes_the_validation_threshold(tiny, build_dir):
    import json

    v = ev.validated_default_model(tiny, window=256, stride=256, o_thr=0.4, n_boot=5,
                                   train_settings=TINY_TRAIN, publish_threshold=True)
    assert v.budget == "cpu" and (v.params.window, v.params.stride, v.params.o_thr) == (256, 256, 0.4)
    assert [s.file_id for s in v.val_scores] == [m.file_id for m in ev.load_split(tiny, "val")]
    assert v.p_thr == ev.choose_operating_point(v.val_summary)
    assert json.loads((build_dir / "models" / "default.json").read_text())["p_thr"] == v.p_thr
    assert v.checkpoint == ev.default_model(tiny, progress=False, **TINY_TRAIN)[2]


def test_validated_default_model_can_leave_the_installed_model_alone(tiny, build_dir):
    v = ev.validated_default_model(tiny, window=256, stride=256, n_boot=5, train_settings=TINY_TRAIN,
                                   publish=False)
    assert v.checkpoint.is_file() and not (build_dir / "models" / "default.pt").exists()
    with pytest.raises(ValueError, match="needs publish=True"):
        ev.validated_default_model(tiny, train_settings=TINY_TRAIN, publish=False, publish_threshold=True)
    with pytest.raises(ValueError, match="budget must be 'cpu' or 'paper', got True"):
        ev.validated_default_model(tiny, budget=True)   # the old 'paper=True' spelling is gone


def test_wang_yang_model_is_cached_and_scores_candidates(tiny, build_dir):
    kw = dict(n_filters=4, epochs=1, max_steps=1, max_patches=64, batch_size=16, time_budget_s=None)
    model, info = ev.wang_yang_model(tiny, progress=False, **kw)
    assert info["steps"] == 1
    again, info2 = ev.wang_yang_model(tiny, progress=False, **kw)
    assert info2 == info
    val = ev.load_split(tiny, "val")
    out = ev.wang_yang_split(again, val, progress=False)
    assert all(s.scores.size == int(s.labels.max()) for s in out)
    assert ((np.concatenate([s.scores for s in out]) >= 0).all())


def test_example_patches_cut_the_window_with_most_mcs(tiny):
    test = ev.load_split(tiny, "test")[:1]
    patches, table = ev.example_patches(test, Oracle(test), 0.5, size=64, params=PARAMS, progress=False)
    p = patches[0]
    for key in ("image", "reference", "ours", "ciecholewski"):
        assert p[key].shape == (64, 64), key
    centres = np.rint(test[0].mc_points()).astype(int)

    def n_mcs(r, c):
        inside = ((centres[:, 0] >= r) & (centres[:, 0] < r + 64)
                  & (centres[:, 1] >= c) & (centres[:, 1] < c + 64))
        return int(inside.sum())

    shape = test[0].image.shape
    best = max(n_mcs(r, c) for r in range(0, shape[0] - 63, 8) for c in range(0, shape[1] - 63, 8))
    assert n_mcs(table.loc[0, "row0"], table.loc[0, "col0"]) >= best
    assert table.loc[0, "n_ref"] > 0 and 0 <= table.loc[0, "iou_mc_ours"] <= 1


def test_mean_tpr_averages_the_band_inside_the_fp_range():
    import types

    band = pd.DataFrame({"fp_per_cm2": np.linspace(0, 1, 11), "tpr": np.linspace(0, 1, 11) ** 2})
    s = types.SimpleNamespace(band=band)
    inside = band.query("0.2 <= fp_per_cm2 <= 0.6")["tpr"]   # float grid: 0.2 and 0.6 up to rounding
    assert len(inside) < 5                                   # the naive query loses an end point
    assert ev.mean_tpr(s, (0.2, 0.6)) == pytest.approx(np.mean([0.04, 0.09, 0.16, 0.25, 0.36]))
    assert np.isnan(ev.mean_tpr(s, (1.5, 2.0)))
    with pytest.raises(ValueError, match="fp_range"):
        ev.mean_tpr(s, (0.6, 0.2))


def test_image_summary_counts_one_image_against_its_annotations():
    import types

    from hdogreg.data import Annotation, Mammogram

    ref = [Annotation("contour", np.array([[10, 10], [10, 14], [14, 14], [14, 10]], float)),
           Annotation("point", np.array([[40.0, 40.0]])),
           Annotation("point", np.array([[70.0, 20.0]]))]
    mammo = Mammogram(np.zeros((100, 100), np.float32), 0.1, "img", "p", "L", "CC", ref, 4095.0)
    labels = np.zeros((100, 100), np.int32)
    labels[10:15, 10:15] = 1           # the contoured MC, exactly
    labels[40, 41] = 2                 # 1 px from the point MC: a hit
    labels[80:83, 80:83] = 3           # nowhere near an MC: a false positive
    breast = np.zeros((100, 100), bool)
    breast[:, :50] = True              # 100 x 50 px at 0.1 mm = 0.5 cm^2
    result = types.SimpleNamespace(
        labels=labels, mask=labels > 0, breast=breast, params=SegmentParams(p_thr=0.2, o_thr=0.3),
        hdog=types.SimpleNamespace(n_objects=7), fusion=types.SimpleNamespace(n_objects=3))
    s = ev.image_summary(result, mammo)
    assert (s["n_reference"], s["n_candidates"], s["n_kept"]) == (3, 7, 3)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 1)
    assert s["tpr"] == pytest.approx(2 / 3)
    assert s["fp_per_cm2"] == pytest.approx(1 / 0.5)
    assert s["iou_per_object"] == pytest.approx(1.0)    # the only reference object > 1 px
    assert (s["p_thr"], s["o_thr"], s["file_id"]) == (0.2, 0.3, "img")
    assert 0 < s["iou_mc"] < 1 and s["iou_mc"] < s["miou_per_image"] < 1


def test_local_contrast_split_scores_every_candidate(tiny):
    out = _baseline_scores(tiny, ev.local_contrast_split)
    summary = ev.detection_summary(out, n_boot=2)
    assert 0 < summary.tpr.max() <= 1          # some annotated MC is among the candidates
