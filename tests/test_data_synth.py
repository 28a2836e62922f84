"""Synthetic benchmark: layout, round trip through the INbreast reader, determinism, calibration."""

import hashlib
import json

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
from skimage.feature import blob_dog

from hdogreg.data import InbreastDataset, LocalDataset, read_casestudy_cohort
from hdogreg.data.__main__ import main
from hdogreg.data.stats import spectral_slope
from hdogreg.data.synth import Preset, generate, powerlaw_field, synth_mammogram

MICRO = Preset("micro", n_cases=2, shape=(200, 160), n_local_cases=1, n_case_patients=2,
               n_case_rois=3, case_shape=(160, 160))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "tiny"
    assert main(["synth", "--out", str(out), "--seed", "0", "--preset", "tiny", "--quiet"]) == 0
    return out


def test_layout_and_metadata(tiny):
    for sub in ("AllDICOMs", "AllXML", "groundtruth/labels", "local/images", "casestudy/images"):
        assert any((tiny / sub).iterdir()), sub
    meta = pd.read_csv(tiny / "INbreast.csv", sep=";", dtype=str)
    assert list(meta.columns) == ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date",
                                  "File Name", "ACR", "Bi-Rads"]
    ds = InbreastDataset(tiny)
    assert len(ds) == 12 and set(ds.table.view) == {"CC", "MLO"}
    assert ds.table.patient_id.nunique() == 6
    assert set(meta["File Name"]) == set(ds.table.file_id)
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["preset"]["name"] == "tiny"
    for rel in ("INbreast.csv", "splits.csv", "casestudy/cohort.csv"):
        assert manifest["files"][rel] == hashlib.sha256((tiny / rel).read_bytes()).hexdigest()


def test_every_annotation_round_trips_to_the_ground_truth(tiny):
    ds = InbreastDataset(tiny)
    gt = pd.read_csv(tiny / "groundtruth" / "mcs.csv", dtype={"file_id": str})
    kinds = set()
    for fid in ds.file_ids():
        mg = ds.load(fid)
        assert mg.intensity_scale == 16383 and mg.pixel_spacing == pytest.approx(0.07)
        truth = iio.imread(tiny / "groundtruth" / "labels" / f"{fid}.png").astype(int)
        rows = gt[gt.file_id == fid].sort_values("mc_id")
        assert len(rows) == len(mg.annotations) > 0
        labels = mg.mc_labels()
        for ann, r in zip(mg.annotations, rows.itertuples()):
            assert ann.kind == r.kind
            kinds.add(ann.kind)
            if ann.kind == "point":
                np.testing.assert_array_equal(ann.points[0], [r.row, r.col])
                assert truth[int(r.row), int(r.col)] == r.mc_id
            else:
                np.testing.assert_array_equal(labels == r.mc_id, truth == r.mc_id)
        assert {a.name for a in mg.other_annotations} <= {"Cluster"}
    assert kinds == {"point", "contour"}
    # small MCs are points, large ones contours
    assert gt[gt.kind == "point"].area_px.median() < gt[gt.kind == "contour"].area_px.median()
    assert {"punctate", "amorphous", "pleomorphic", "linear"} <= set(gt["type"])


def test_splits_patient_disjoint(tiny):
    ds = InbreastDataset(tiny)
    assert ds.table.groupby("patient_id")["split"].nunique().max() == 1
    assert set(ds.table.split) == {"train", "val", "test"}
    local = pd.read_csv(tiny / "local" / "splits.csv", dtype=str)
    assert local.groupby("patient_id")["split"].nunique().max() == 1


def test_local_set_points_and_vendor(tiny):
    lo = LocalDataset(tiny / "local")
    gt = pd.read_csv(tiny / "local" / "groundtruth" / "mcs.csv")
    n_points = 0
    for fid in lo.file_ids():
        mg = lo.load(fid)
        assert mg.intensity_scale == 4095 and mg.view in {"CC", "MLO", "ML"}
        truth = iio.imread(tiny / "local" / "groundtruth" / "labels" / f"{fid}.png").astype(int)
        hit = [truth[tuple(np.rint(a.points[0]).astype(int))] for a in mg.annotations]
        assert all(h > 0 for h in hit) and len(set(hit)) == len(hit)
        n_points += len(hit)
    assert n_points == gt.annotated.sum() > 0


def test_casestudy_cohort(tiny):
    c = read_casestudy_cohort(tiny / "casestudy")
    assert set(c.label) <= {0, 1} and len(c) == 12 and c.patient_id.nunique() == 10
    assert c.groupby("patient_id")["label"].nunique().max() == 1
    assert (c.pixel_spacing < 0.07 / 1.5).all()
    for r in c.itertuples():
        truth = iio.imread(tiny / "casestudy" / "groundtruth" / f"{r.roi_id}.png")
        rr, cc = np.nonzero(truth)
        assert len(rr) > 0
        assert r.x0 <= cc.min() and cc.max() < r.x1 and r.y0 <= rr.min() and rr.max() < r.y1
        assert r.x1 <= truth.shape[1] and r.y1 <= truth.shape[0]


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate(tmp_path / "a", seed=5, preset=MICRO, progress=False)
    b = generate(tmp_path / "b", seed=5, preset=MICRO, progress=False)
    c = generate(tmp_path / "c", seed=6, preset=MICRO, progress=False)
    files_a = json.loads((a / "manifest.json").read_text())["files"]
    assert files_a == json.loads((b / "manifest.json").read_text())["files"]
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    files_c = json.loads((c / "manifest.json").read_text())["files"]
    assert files_a["INbreast.csv"] != files_c["INbreast.csv"]


def test_output_is_not_clobbered(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a generated benchmark"):
        generate(tmp_path / "mine", preset=MICRO, progress=False)
    assert main(["synth", "--out", str(tmp_path / "mine"), "--preset", "tiny", "--quiet"]) == 2
    out = generate(tmp_path / "g", preset=MICRO, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(out, preset=MICRO, progress=False)
    generate(out, seed=1, preset=MICRO, progress=False, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1


@pytest.mark.parametrize("vendor,bits", [("siemens", 14), ("hologic", 12)])
def test_blob_detector_finds_mcs_and_false_candidates(vendor, bits):
    """Calibration against the paper's DoG threshold 0.006 on the [0, 1] scale."""
    sim = synth_mammogram(1, (480, 400), view="CC", vendor=vendor, n_clusters=2, n_single=6)
    assert sim.bits == bits and sim.raw.max() <= 2**bits - 1
    img = sim.raw / (2**bits - 1)
    blobs = blob_dog(img, min_sigma=1.18, max_sigma=3.1, sigma_ratio=1.6, threshold=0.006)
    r, c = blobs[:, 0].astype(int), blobs[:, 1].astype(int)
    from scipy import ndimage as ndi

    near = ndi.grey_dilation(sim.labels, size=7)
    found = set(np.unique(near[r, c])) - {0}
    assert len(sim.mcs) >= 10
    assert len(found) / len(sim.mcs) >= 0.7
    assert (near[r, c] == 0).sum() >= 20           # texture and curvilinear false positives


def test_contrasts_mostly_visible_with_a_subtle_minority(tiny):
    gt = pd.read_csv(tiny / "groundtruth" / "mcs.csv")
    subtle = (gt.contrast < 0.015).mean()
    assert 0.01 < subtle < 0.3
    assert gt.contrast.median() > 0.03
    assert (gt.contrast[gt.type == "amorphous"].median() < gt.contrast[gt.type == "punctate"].median())


@pytest.mark.parametrize("beta", [2.5, 3.0])
def test_powerlaw_texture_has_the_requested_slope(beta):
    field = powerlaw_field((512, 512), beta, np.random.default_rng(0))
    assert spectral_slope(field, 0.07, f_range=(0.1, 1.0)) == pytest.approx(beta, abs=0.25)


def test_spectral_slope_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="no 256x256 patch"):
        spectral_slope(np.zeros((100, 100)), 0.07)


def test_measured_contrast_tracks_the_true_contrast(tiny):
    from hdogreg.data.stats import measure_mcs

    ds = InbreastDataset(tiny)
    gt = pd.read_csv(tiny / "groundtruth" / "mcs.csv", dtype={"file_id": str})
    fid = ds.file_ids()[0]
    mg = ds.load(fid)
    m = measure_mcs(mg.image, mg.mc_labels(), mg.pixel_spacing).merge(gt[gt.file_id == fid], on="mc_id")
    assert len(m) == len(mg.annotations)
    assert np.corrcoef(m.contrast_x, m.contrast_y)[0, 1] > 0.8
    assert (m.area_px_x[m.kind == "contour"] == m.area_px_y[m.kind == "contour"]).all()


def test_spectrum_summary_on_a_generated_mammogram():
    from hdogreg.data import Mammogram
    from hdogreg.data.stats import spectrum_summary

    sim = synth_mammogram(2, (1000, 800), view="CC", beta=3.0, n_clusters=0, n_single=0, n_benign=0)
    mg = Mammogram(sim.raw / 16383.0, 0.07, "x", "p", "L", "CC", [], 16383.0)
    row = spectrum_summary(mg, patch=256)
    assert row["n_patches"] >= 1
    assert row["beta"] == pytest.approx(3.0, abs=0.5)
    assert np.isnan(spectrum_summary(mg, patch=1024)["beta"])


def test_splits_command_for_an_inbreast_folder(tiny, tmp_path):
    out = tmp_path / "data" / "inbreast_splits.csv"
    assert main(["splits", str(tiny), "--out", str(out), "--seed", "1"]) == 0
    s = pd.read_csv(out, dtype=str)
    assert len(s) == 12 and s.groupby("patient_id")["split"].nunique().max() == 1
    ds = InbreastDataset(tiny, splits=out)
    assert ds.table.split.notna().all()
    assert set(ds.file_ids("test")) == set(s.file_id[s.split == "test"])


def test_cli_size_overrides(tmp_path):
    out = tmp_path / "small"
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--cases", "2", "--shape", "200", "160",
                 "--quiet"]) == 0
    ds = InbreastDataset(out)
    assert len(ds) == 4 and ds.load(ds.file_ids()[0]).image.shape == (200, 160)
    assert json.loads((out / "manifest.json").read_text())["preset"]["n_cases"] == 2
    with pytest.raises(SystemExit):
        main(["synth", "--out", str(tmp_path / "x"), "--cases", "0"])
