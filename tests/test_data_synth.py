"""Synthetic benchmark (hdogreg.data.synth): layout, INbreast round trip, determinism, and the
stated properties of each stage (acquisition, burn-ins, calcifications, vendor looks)."""

import dataclasses
import hashlib
import json
import plistlib

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from skimage.feature import blob_dog

from hdogreg.breast import breast_mask
from hdogreg.data import InbreastDataset, LocalDataset, rasterize_polygon, read_casestudy_cohort
from hdogreg.data.__main__ import main
from hdogreg.data.realism import breast_level, dog_snr, radial_power
from hdogreg.data.stats import spectral_slope
from hdogreg.data.synth import (
    VENDORS,
    Acquisition,
    Preset,
    draw_acquisition,
    generate,
    powerlaw_field,
    synth_mammogram,
)
from hdogreg.data.synth.acquisition import acquire, apply_tone, burn_in, correlated_noise, noise_sd, quantise
from hdogreg.data.synth.calcifications import (
    COUNT_MODEL,
    COUNT_MODELS,
    MC_TYPES,
    SIZE_MODEL,
    SNR_MODEL,
    contour_of,
    draw_area_px,
    draw_counts,
    mc_footprint,
    place_mcs,
)
from hdogreg.data.synth.mammogram import synth_magnification

MICRO = Preset("micro", n_cases=2, shape=(200, 160), n_local_cases=1, n_case_patients=2,
               n_case_rois=3, case_shape=(288, 288))
SPACING = 0.07


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


# ============================================================================= the benchmark folder
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
    assert manifest["preset"]["shape"] == [320, 256]
    for rel in ("INbreast.csv", "splits.csv", "casestudy/cohort.csv"):
        assert manifest["files"][rel] == hashlib.sha256((tiny / rel).read_bytes()).hexdigest()


def test_every_annotation_round_trips_to_the_ground_truth(tiny):
    ds = InbreastDataset(tiny)
    gt = pd.read_csv(tiny / "groundtruth" / "mcs.csv", dtype={"file_id": str})
    images = pd.read_csv(tiny / "groundtruth" / "images.csv", dtype={"file_id": str}).set_index("file_id")
    kinds = set()
    for fid in ds.file_ids():
        mg = ds.load(fid)
        assert mg.intensity_scale == 16383 and mg.pixel_spacing == pytest.approx(0.07)
        assert mg.image.shape == (320, 256)
        truth = iio.imread(tiny / "groundtruth" / "labels" / f"{fid}.png").astype(int)
        rows = gt[gt.file_id == fid].sort_values("mc_id")
        # INbreast-like counts: some images may have none; each has exactly its rows
        assert len(rows) == len(mg.annotations) == images.loc[fid, "n_mc"]
        labels = mg.mc_labels()
        for ann, r in zip(mg.annotations, rows.itertuples()):
            assert ann.kind == r.kind
            kinds.add(ann.kind)
            if ann.kind == "point":
                np.testing.assert_array_equal(ann.points[0], [r.row, r.col])
            else:
                np.testing.assert_array_equal(labels == r.mc_id, truth == r.mc_id)
        assert {a.name for a in mg.other_annotations} <= {"Cluster"}
    assert kinds == {"point", "contour"}              # over the set, not per image
    assert len(gt) > 0
    # small MCs are points, large ones contours
    assert gt[gt.kind == "point"].area_px.median() < gt[gt.kind == "contour"].area_px.median()
    assert {"punctate", "amorphous", "pleomorphic", "linear"} <= set(gt["type"])


def _roi_area_cm2(points_rc):
    r, c = points_rc[:, 0], points_rc[:, 1]
    return abs(0.5 * (np.dot(c, np.roll(r, -1)) - np.dot(r, np.roll(c, -1)))) * 0.007**2


def test_xml_quirks_like_real_inbreast_files(tiny):
    ds = InbreastDataset(tiny)
    n_rois, n_stats, n_calc = 0, 0, 0
    for fid in ds.file_ids():
        with open(tiny / "AllXML" / f"{fid}.xml", "rb") as fh:
            plist = plistlib.load(fh)
        (img,) = plist["Images"]
        rois = img["ROIs"]
        assert img["NumberOfROIs"] == len(rois)
        assert [r["IndexInImage"] for r in rois] == list(range(len(rois)))
        raw = np.rint(ds.load(fid).image.astype(np.float64) * 16383).astype(int)
        for roi in rois:
            n_rois += 1
            pts = np.array([[float(v) for v in p.strip("()").split(",")][::-1] for p in roi["Point_px"]])
            assert roi["NumberOfPoints"] == len(pts)
            assert roi["Center"] == "(0.000000, 0.000000, 0.000000)"
            assert roi["Point_mm"] == ["(0.000000, 0.000000, 0.000000)"] * len(pts)
            assert roi["Name"] in {"Calcification", "Cluster"}
            has_stats = roi["Mean"] != 0 or roi["Max"] != 0
            n_stats += has_stats
            if has_stats:
                assert 0 <= roi["Min"] <= roi["Mean"] <= roi["Max"] <= 16383
            if roi["Name"] != "Calcification":
                continue
            n_calc += 1
            if len(pts) == 1:
                assert roi["Type"] == 19 and roi["Area"] == 0.0
                if has_stats:                      # the raw value of the annotated pixel
                    r, c = np.rint(pts[0]).astype(int)
                    assert roi["Max"] == roi["Min"] == roi["Total"] == raw[r, c]
            else:
                assert roi["Type"] == 15 and 4 <= len(pts) <= 39
                assert not np.array_equal(pts[0], pts[-1])          # open polygon
                assert roi["Area"] == pytest.approx(_roi_area_cm2(pts), rel=1e-9)   # cm^2
    assert n_calc > 20
    assert 0.2 < n_stats / n_rois < 0.8


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
    assert files_a["groundtruth/mcs.csv"] != files_c["groundtruth/mcs.csv"]
    dicoms = [k for k in files_a if k.startswith("AllDICOMs/")]
    assert len(dicoms) == 4 and not set(dicoms) & set(files_c)


def test_small_magnification_views_are_generated():
    sim = synth_magnification(np.random.default_rng([5, 3, 1]), (160, 160), z=2.1233370942258523,
                              magnification=1.8)
    assert sim.raw.shape == (160, 160)


def test_output_is_not_clobbered(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a generated benchmark"):
        generate(tmp_path / "mine", preset=MICRO, progress=False)
    assert main(["synth", "--out", str(tmp_path / "mine"), "--preset", "tiny", "--quiet"]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    out = generate(tmp_path / "g", preset=MICRO, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(out, preset=MICRO, progress=False)
    generate(out, seed=1, preset=MICRO, progress=False, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1


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


def test_measured_contrast_tracks_the_true_contrast(tiny):
    from hdogreg.data.stats import measure_mcs

    ds = InbreastDataset(tiny)
    gt = pd.read_csv(tiny / "groundtruth" / "mcs.csv", dtype={"file_id": str})
    fid = gt.file_id.value_counts().index[0]          # the image with the most MCs
    mg = ds.load(fid)
    m = measure_mcs(mg.image, mg.mc_labels(), mg.pixel_spacing).merge(gt[gt.file_id == fid], on="mc_id")
    assert len(m) >= 10
    assert np.corrcoef(m.contrast_x, m.contrast_y)[0, 1] > 0.8
    assert (m.area_px_x[m.kind == "contour"] == m.area_px_y[m.kind == "contour"]).all()


# ============================================================================= texture
@pytest.mark.parametrize("beta", [2.5, 3.0])
def test_powerlaw_texture_has_the_requested_slope(beta):
    field = powerlaw_field((512, 512), beta, np.random.default_rng(0))
    assert spectral_slope(field, 0.07, f_range=(0.1, 1.0)) == pytest.approx(beta, abs=0.25)


def test_spectral_slope_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="no 256x256 patch"):
        spectral_slope(np.zeros((100, 100)), 0.07)


def test_spectrum_summary_on_a_generated_mammogram():
    from hdogreg.data import Mammogram
    from hdogreg.data.stats import spectrum_summary

    sim = synth_mammogram(2, (1000, 800), view="CC", beta=3.0, n_clusters=0, n_single=0, n_benign=0)
    mg = Mammogram(sim.raw / 16383.0, 0.07, "x", "p", "L", "CC", [], 16383.0)
    row = spectrum_summary(mg, patch=256)
    assert row["n_patches"] >= 1
    assert row["beta"] == pytest.approx(3.0, abs=0.5)
    assert np.isnan(spectrum_summary(mg, patch=1024)["beta"])


# ============================================================================= acquisition
def _acq(**kw):
    base = dict(vendor="siemens", bits=14, tone="linear", mtf_sigma=0.5, nps_sigma=0.0, quanta=3000.0,
                electronic=0.002, gain=0.3, offset=0.005)
    return Acquisition(**{**base, **kw})


def test_noise_sd_is_poisson_gaussian():
    acq = _acq(quanta=2500.0, electronic=0.003)
    s = np.array([0.0, 0.05, 0.3, 0.6, 1.0])
    np.testing.assert_allclose(noise_sd(s, acq) ** 2, s / 2500.0 + 0.003**2, rtol=1e-5)
    assert noise_sd(-0.2, acq) == pytest.approx(0.003, rel=1e-6)      # no negative signal


@pytest.mark.parametrize("nps_sigma", [0.0, 0.5])
def test_flat_field_variance_grows_linearly_with_the_signal(nps_sigma):
    """The MTF blur does nothing to a flat field: the pixel variance is gain^2 noise_sd^2."""
    acq = _acq(nps_sigma=nps_sigma)
    var = {}
    for s in (0.1, 0.4):
        out = acquire(np.full((512, 512), s, np.float32), acq, np.random.default_rng(0))
        assert out.mean() == pytest.approx(acq.offset + acq.gain * s, rel=1e-3)
        var[s] = float(out.var(dtype=np.float64))
        assert var[s] == pytest.approx(acq.gain**2 * (s / acq.quanta + acq.electronic**2), rel=0.03)
    slope = (var[0.4] - var[0.1]) / (0.4 - 0.1) / acq.gain**2
    assert slope == pytest.approx(1 / acq.quanta, rel=0.05)              # quantum noise
    # different draws: independent noise, same statistics
    other = acquire(np.full((512, 512), 0.4, np.float32), acq, np.random.default_rng(1))
    assert other.var(dtype=np.float64) == pytest.approx(var[0.4], rel=0.03)
    assert not np.array_equal(other, acquire(np.full((512, 512), 0.4, np.float32), acq,
                                             np.random.default_rng(0)))


@pytest.mark.parametrize("sigma", [0.0, 0.3, 0.6])
def test_correlated_noise_has_unit_variance(sigma):
    n = correlated_noise((512, 512), np.random.default_rng(2), sigma)
    assert n.shape == (512, 512) and n.dtype == np.float32
    assert float(n.var(dtype=np.float64)) == pytest.approx(1.0, rel=0.02)
    assert abs(float(n.mean())) < 0.02


def _flat_field_nps(nps_sigma, n=1024, patch=64):
    """NPS (cycles/px, unit pixel variance) of a flat-field `acquire` output, over patches."""
    out = acquire(np.full((n, n), 0.3, np.float32), _acq(nps_sigma=nps_sigma), np.random.default_rng(4))
    out = (out - out.mean()) / out.std()
    spectra = [radial_power(out[i:i + patch, j:j + patch], 1.0) for i in range(0, n, patch)
               for j in range(0, n, patch)]
    win = np.outer(np.hanning(patch), np.hanning(patch))
    return spectra[0][0], np.mean([p for _, p in spectra], axis=0) / (win**2).sum()


def _stated_nps_ratio(f, f0, sigma):
    return np.exp(-(2 * np.pi * sigma * f) ** 2) / np.exp(-(2 * np.pi * sigma * f0) ** 2)


def test_white_detector_noise_has_a_flat_nps():
    f, p = _flat_field_nps(0.0)
    sel = f > 0.08                      # the lowest bins lose a little to the window and the mean
    np.testing.assert_allclose(p[sel], 1.0, rtol=0.08)


def test_correlated_detector_noise_has_the_stated_nps_at_low_frequencies():
    sigma = 0.6
    f, p = _flat_field_nps(sigma)
    k0 = np.argmin(abs(f - 0.05))
    for fq in (0.1, 0.2):
        k = np.argmin(abs(f - fq))
        assert p[k] / p[k0] == pytest.approx(_stated_nps_ratio(f[k], f[k0], sigma), rel=0.1)
    assert p[-1] < 0.1 * p[k0]                                       # strongly low-pass


def test_weakly_correlated_noise_has_the_stated_nps():
    sigma = 0.3
    f, p = _flat_field_nps(sigma)
    k0, k = np.argmin(abs(f - 0.05)), np.argmin(abs(f - 0.4))
    assert p[k] / p[k0] == pytest.approx(_stated_nps_ratio(f[k], f[k0], sigma), rel=0.1)


_RANGE_FIELDS = ("mtf_sigma", "nps_sigma", "quanta", "electronic", "gain", "offset", "tone_centre",
                 "tone_width", "grain")


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_draw_acquisition_within_the_vendor_ranges(vendor):
    v = VENDORS[vendor]
    acqs = [draw_acquisition(vendor, np.random.default_rng(seed)) for seed in range(60)]
    for a in acqs:
        assert (a.vendor, a.bits, a.tone) == (v.name, v.bits, v.tone)
        for name in _RANGE_FIELDS:
            lo, hi = getattr(v, name)
            assert lo <= getattr(a, name) <= hi, name
    quanta = [a.quanta for a in acqs]
    assert len(set(quanta)) == len(acqs)                   # no two images share a noise level
    lq = np.log(quanta)
    assert lq.min() < np.log(v.quanta[0]) + 0.3 * np.log(v.quanta[1] / v.quanta[0])  # spread out
    assert lq.max() > np.log(v.quanta[1]) - 0.3 * np.log(v.quanta[1] / v.quanta[0])
    assert draw_acquisition(v, np.random.default_rng(7)) == draw_acquisition(vendor, np.random.default_rng(7))


def _corner_acquisitions(vendor):
    """Acquisitions at the ends of the tone ranges, plus a few random draws."""
    v = VENDORS[vendor]
    base = draw_acquisition(vendor, np.random.default_rng(0))
    corners = [dataclasses.replace(base, tone_centre=c, tone_width=w) for c in v.tone_centre
               for w in v.tone_width]
    return corners + [draw_acquisition(vendor, np.random.default_rng(s)) for s in range(1, 6)]


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_tone_curves_increase_on_the_unit_interval(vendor):
    v = np.linspace(0, 1, 2001, dtype=np.float32)
    for acq in _corner_acquisitions(vendor):
        out = apply_tone(v, acq)
        assert out.dtype == np.float32
        assert np.all(np.diff(out) > 0), acq
        assert out[0] >= -1e-6 and out[-1] <= 1 + 1e-6
        if acq.tone == "linear":
            np.testing.assert_array_equal(out, v)                  # raw-like: stored = linear value
        else:
            assert out[-1] - out[0] > 0.5                          # processed: most of the range
    with pytest.raises(ValueError, match="unknown tone"):
        apply_tone(v, _acq(tone="gamma"))


@pytest.mark.parametrize("bits", [12, 14])
def test_quantise_clips_and_rounds_to_the_bit_depth(bits):
    top = 2**bits - 1
    q = quantise(np.array([-0.3, 0.0, 0.4 / top, 0.6 / top, 17 / top, 0.5, 1.0, 1.7], np.float32), bits)
    assert q.dtype == np.uint16
    assert q.tolist() == [0, 0, 0, 1, 17, round(0.5 * top), top, top]
    grid = quantise(np.linspace(-1, 2, 10001), bits)
    assert grid.max() == top and grid.min() == 0


# ============================================================================= burn-ins
def _ramp_breast(shape=(600, 640), seed=0):
    """Stored values of a raw-like breast with a soft periphery (room for labels on the right)."""
    H, W = shape
    yy, xx = np.mgrid[:H, :W]
    breast = ((yy - H / 2) ** 2 / (0.44 * H) ** 2 + xx**2 / (0.45 * W) ** 2) <= 1
    dist = ndi.distance_transform_edt(breast)
    t = np.sqrt(1 - (1 - np.clip(dist / 80, 0, 1)) ** 2)
    rng = np.random.default_rng(seed)
    stored = 0.005 + 0.12 * t + 0.001 * rng.standard_normal(shape)
    return stored.astype(np.float32), breast


def test_burn_in_marks_only_outside_the_breast_or_on_edge_rows():
    stored, breast = _ramp_breast()
    H, W = stored.shape
    near = ndi.binary_dilation(breast, iterations=int(3 / SPACING) - 1)
    seen = {"label": 0, "marker": 0, "collimation": 0}
    for seed in range(8):
        out, added = burn_in(stored, np.random.default_rng(seed), breast, SPACING, label="LCC",
                             p_label=1, p_marker=1, p_collimation=1)
        any_added = added["label"] | added["marker"] | added["collimation"]
        np.testing.assert_array_equal(out[~any_added], stored[~any_added])
        assert (out[any_added] >= 0.85).all()
        for kind in ("label", "marker"):
            assert not (added[kind] & near).any(), (seed, kind)
            seen[kind] += added[kind].any()
        band = added["collimation"]
        rows = np.nonzero(band.any(axis=1))[0]
        assert band[rows].all()                                          # whole rows
        assert rows[0] == 0 or rows[-1] == H - 1                        # at an edge
        assert len(rows) == rows[-1] - rows[0] + 1 and 2 <= len(rows) <= 5 / SPACING + 1
        seen["collimation"] += band.any()
        truth = breast & ~band
        assert _iou(breast_mask(out), truth) > 0.95, seed
    assert all(v > 0 for v in seen.values()), seen
    out, added = burn_in(stored, np.random.default_rng(0), breast, SPACING, label="LCC", p_label=0,
                         p_marker=0, p_collimation=0)
    np.testing.assert_array_equal(out, stored)
    assert not any(m.any() for m in added.values())


def test_breast_mask_of_a_generated_mammogram_with_collimation():
    found = []
    for seed in range(40):
        sim = synth_mammogram(seed, (480, 384), view=("CC", "MLO")[seed % 2])
        if sim.info["burn_ins"]["collimation"]:
            found.append(sim)
        if len(found) == 2:
            break
    assert len(found) == 2
    for sim in found:
        top = 2**sim.bits - 1
        band_rows = np.nonzero((sim.raw >= 0.9 * top - 1).all(axis=1))[0]
        assert len(band_rows) >= 2 and (band_rows[0] == 0 or band_rows[-1] == sim.raw.shape[0] - 1)
        assert not sim.breast[band_rows].any()                           # the band is not breast
        assert _iou(breast_mask(sim.raw.astype(np.float64)), sim.breast) > 0.95


# ============================================================================= calcifications
SUSPICIOUS_NOT_AMORPHOUS = ["punctate", "pleomorphic", "linear"]


@pytest.mark.parametrize("mc_type", MC_TYPES)
def test_draw_area_px_point_share_and_point_sizes(mc_type):
    rng = np.random.default_rng(11)
    draws = [draw_area_px(rng, mc_type, SPACING) for _ in range(4000)]
    area = np.array([a for a, _ in draws])
    point = np.array([p for _, p in draws])
    if mc_type.startswith("benign"):
        assert not point.any()
        return
    expected = min(SIZE_MODEL["p_point"] * (1.15 if mc_type == "amorphous" else 1.0), 0.95)
    assert point.mean() == pytest.approx(expected, abs=0.03)
    d = 2 * np.sqrt(area[point] / np.pi) * SPACING
    lo, hi = SIZE_MODEL["point_diameter_mm"]
    assert lo - 1e-9 <= d.min() and d.max() <= hi + 1e-9
    assert d.min() < lo * 1.05 and d.max() > hi * 0.95                 # the whole range is used
    # log-uniform: the median diameter is the geometric mean of the range
    assert np.median(d) == pytest.approx(np.sqrt(lo * hi), rel=0.05)


def test_draw_area_px_contour_sizes_follow_the_clipped_log_normal():
    rng = np.random.default_rng(12)
    draws = [draw_area_px(rng, t, SPACING) for t in SUSPICIOUS_NOT_AMORPHOUS for _ in range(4000)]
    mm2 = np.array([a for a, p in draws if not p]) * SPACING**2
    med, sd = SIZE_MODEL["contour_area_mm2"]
    lo, hi = SIZE_MODEL["contour_area_clip_mm2"]
    assert len(mm2) > 2500
    assert np.median(mm2) == pytest.approx(med, rel=0.1)
    assert np.percentile(mm2, 95) == pytest.approx(med * np.exp(1.645 * sd), rel=0.15)
    assert mm2.min() >= lo - 1e-12 and mm2.max() <= hi + 1e-12         # clipping respected
    # the clip holds the lower tail: P(area < 0.1 mm^2) of the log-normal is 5.9%
    from scipy.stats import norm
    assert np.mean(mm2 <= lo + 1e-12) == pytest.approx(norm.cdf(np.log(lo / med) / sd), abs=0.02)
    assert np.mean(mm2 >= hi - 1e-12) == pytest.approx(norm.sf(np.log(hi / med) / sd), abs=0.01)


def test_draw_area_px_scales_with_the_size_factor():
    a1 = draw_area_px(np.random.default_rng(3), "punctate", SPACING)
    a2 = draw_area_px(np.random.default_rng(3), "punctate", SPACING, size_scale=2.0)
    assert a2[1] == a1[1] and a2[0] == pytest.approx(4 * a1[0])


def test_draw_counts_are_inbreast_like():
    rng = np.random.default_rng(13)
    counts = [draw_counts(rng) for _ in range(4000)]
    total = np.array([sum(c["cluster_sizes"]) + c["n_single"] + c["n_benign"] + c["n_dermal"]
                      for c in counts])
    assert np.mean(total == 0) == pytest.approx(COUNT_MODEL["p_none"], abs=0.03)
    assert 2 <= np.median(total) <= 5                                   # INbreast: 3
    assert 15 <= np.percentile(total, 95) <= 45                         # INbreast: 26
    assert total.max() > 40                                             # diffuse benign images
    diffuse = np.array([c["diffuse"] for c in counts])
    assert diffuse.mean() == pytest.approx(COUNT_MODEL["p_diffuse"], abs=0.015)
    lo, hi = COUNT_MODEL["diffuse_range"]
    assert ((total[diffuse] >= lo) & (total[diffuse] < hi)).all()
    sizes = [s for c in counts for s in c["cluster_sizes"]]
    assert min(sizes) >= COUNT_MODEL["cluster_size"][2] and max(sizes) <= COUNT_MODEL["cluster_size"][3]


def test_dense_count_model_gives_every_image_a_cluster():
    rng = np.random.default_rng(14)
    counts = [draw_counts(rng, COUNT_MODELS["dense"]) for _ in range(500)]
    assert all(len(c["cluster_sizes"]) >= 1 and not c["diffuse"] for c in counts)
    assert COUNT_MODELS["inbreast"] is COUNT_MODEL


def _footprints(mc_type, seed=0, n=30):
    rng = np.random.default_rng(seed)
    for area in np.geomspace(20, 700, n):
        rr, cc = mc_footprint(rng, mc_type, area)
        yield rr + 10 - rr.min(), cc + 10 - cc.min()


def _contour_iou(rr, cc):
    shape = (rr.max() + 12, cc.max() + 12)
    foot = np.zeros(shape, bool)
    foot[rr, cc] = True
    poly = contour_of(rr, cc)
    pr, pc = rasterize_polygon(poly, shape)
    ann = np.zeros(shape, bool)
    ann[pr, pc] = True
    return poly, _iou(ann, ndi.binary_fill_holes(foot))


@pytest.mark.parametrize("mc_type", MC_TYPES)
def test_contour_of_is_an_open_inbreast_polygon(mc_type):
    for rr, cc in _footprints(mc_type):
        poly = contour_of(rr, cc)
        assert poly.shape[1] == 2 and 4 <= len(poly) <= 39
        assert not np.allclose(poly[0], poly[-1])
        assert np.array_equal(poly, np.round(poly, 3))
        # vertices lie on the outline: within a pixel of the footprint
        assert (poly[:, 0] >= rr.min() - 1).all() and (poly[:, 0] <= rr.max() + 1).all()
        assert (poly[:, 1] >= cc.min() - 1).all() and (poly[:, 1] <= cc.max() + 1).all()


@pytest.mark.parametrize("mc_type", ["punctate", "amorphous", "pleomorphic", "benign-coarse", "benign-rim",
                                     "benign-dermal"])
def test_contour_of_covers_compact_footprints(mc_type):
    ious, connected = [], []
    for rr, cc in _footprints(mc_type):
        ious.append(_contour_iou(rr, cc)[1])
        foot = np.zeros((rr.max() + 1, cc.max() + 1), bool)
        foot[rr, cc] = True
        connected.append(ndi.label(ndi.binary_fill_holes(foot))[1] == 1)
    ious, connected = np.array(ious), np.array(connected)
    assert connected.mean() >= 0.9         # (benign-coarse lobes are sometimes apart: see below)
    assert ious[connected].min() > 0.6     # the smallest (20 px) lose most to the polygon
    assert np.mean(ious > 0.7) >= 0.85 and np.median(ious) > 0.85


def test_contour_of_covers_branching_footprints():
    ious = np.array([_contour_iou(rr, cc)[1] for rr, cc in _footprints("linear")])
    assert ious.min() > 0.5


def test_contour_of_a_tram_track_encloses_both_walls():
    """A vascular calcification is contoured as one region around both walls (and the lumen)."""
    for rr, cc in _footprints("benign-vascular"):
        shape = (rr.max() + 12, cc.max() + 12)
        pr, pc = rasterize_polygon(contour_of(rr, cc), shape)
        ann = np.zeros(shape, bool)
        ann[pr, pc] = True
        assert ann[rr, cc].mean() > 0.9                # the walls lie inside the contour
        assert ndi.label(ann)[1] == 1


def test_place_mcs_labels_do_not_overlap():
    shape = (400, 400)
    rng = np.random.default_rng(5)
    plan = [(str(t), (float(r), float(c)), -1) for t, r, c in zip(
        rng.choice(["punctate", "pleomorphic", "amorphous", "linear"], 60), rng.uniform(20, 380, 60),
        rng.uniform(20, 380, 60))]
    placed, labels = place_mcs(rng, plan, shape, np.ones(shape, bool), SPACING)
    assert 30 <= len(placed) <= 60
    for i, mc in enumerate(placed, start=1):
        assert (labels == i).sum() == len(mc["fr"])                    # every pixel kept
        assert mc["annotation"].kind == ("point" if mc["point"] else "contour")
        if not mc["point"]:                                          # rendered = annotated
            np.testing.assert_array_equal(np.sort(mc["rr"] * 400 + mc["cc"]),
                                          np.sort(mc["fr"] * 400 + mc["fc"]))


def test_place_mcs_keeps_the_label_of_an_mc_inside_a_rim():
    shape = (300, 300)
    plan = [("punctate", (150.0, 150.0), -1), ("benign-rim", (150.0, 150.0), -1)]
    for seed in range(5):  # the rim is moved away or dropped, never drawn over the punctate MC
        placed, labels = place_mcs(np.random.default_rng(seed), plan, shape, np.ones(shape, bool), SPACING)
        assert placed[0]["type"] == "punctate"
        for i, mc in enumerate(placed, start=1):
            assert (labels == i).sum() == len(mc["fr"])


@pytest.fixture(scope="module")
def calibrated_images():
    return [synth_mammogram(seed, (480, 400), view="CC", n_clusters=2, n_single=8, n_benign=0)
            for seed in range(4)]


def test_point_mc_snr_follows_the_snr_model(calibrated_images):
    ratios = []
    for sim in calibrated_images:
        pt = sim.mcs[sim.mcs.kind == "point"]
        ratios.append((pt.snr / pt["type"].map(SNR_MODEL["type_factor"])).to_numpy())
        assert np.isfinite(sim.mcs.amplitude).all() and (sim.mcs.amplitude > 0).all()
    r = np.concatenate(ratios)
    med, log_sd = SNR_MODEL["point_snr"]
    assert len(r) > 80
    assert np.median(r) == pytest.approx(med, rel=0.15)
    assert np.log(r).std() == pytest.approx(log_sd, rel=0.25)


def test_measured_dog_snr_tracks_the_stored_snr(calibrated_images):
    from scipy.stats import spearmanr

    measured, stored = [], []
    for sim in calibrated_images:
        point = (sim.mcs.kind == "point").to_numpy()
        cen = np.array([a.centroid for a in sim.annotations])
        d = dog_snr(sim.raw / (2**sim.bits - 1), SPACING, cen)
        measured.append(d["snr"][point])
        stored.append(sim.mcs.snr.to_numpy()[point])
    measured, stored = np.concatenate(measured), np.concatenate(stored)
    assert spearmanr(measured, stored).statistic > 0.6
    assert np.median(measured) > 2.5                                    # conspicuous on average


@pytest.mark.parametrize("vendor,bits", [("siemens", 14), ("hologic", 12)])
def test_blob_detector_finds_mcs_and_false_candidates(vendor, bits):
    """Calibration against the paper's DoG threshold 0.006 on the [0, 1] scale."""
    sim = synth_mammogram(1, (480, 400), view="CC", vendor=vendor, n_clusters=2, n_single=6)
    assert sim.bits == bits and sim.raw.max() <= 2**bits - 1
    img = sim.raw / (2**bits - 1)
    blobs = blob_dog(img, min_sigma=1.18, max_sigma=3.1, sigma_ratio=1.6, threshold=0.006)
    r, c = blobs[:, 0].astype(int), blobs[:, 1].astype(int)
    near = ndi.grey_dilation(sim.labels, size=7)
    found = set(np.unique(near[r, c])) - {0}
    assert len(sim.mcs) >= 10
    assert len(found) / len(sim.mcs) >= 0.7
    assert (near[r, c] == 0).sum() >= 10           # texture and curvilinear false positives


# ============================================================================= vendor looks
@pytest.mark.parametrize("vendor,bits", [("siemens", 14), ("hologic", 12), ("ge", 14), ("film", 12)])
def test_vendor_look_bit_depth(vendor, bits):
    assert VENDORS[vendor].bits == bits
    for seed in range(2):
        sim = synth_mammogram(seed, (320, 256), vendor=vendor, view=("CC", "MLO")[seed])
        assert sim.bits == bits and sim.raw.dtype == np.uint16
        assert sim.raw.max() <= 2**bits - 1
        assert sim.info["acquisition"].vendor == vendor
        level = breast_level(sim.raw / (2**bits - 1), sim.breast)
        if vendor == "siemens":                   # raw-like: INbreast's 14-bit levels
            assert 0.06 <= breast_level(sim.raw / 16383) <= 0.2
            assert 0.06 <= level <= 0.2
        else:                                     # processed looks use the range
            assert 0.2 < level < 0.9


# ----------------------------------------------------------------------------- spacing twins


def test_spacing_twin_at_native_spacing_is_the_benchmark_image(tiny):
    from hdogreg.data.synth.benchmark import spacing_twin

    ds = InbreastDataset(tiny)
    m = ds.load(ds.file_ids()[0])
    twin = spacing_twin(tiny, m.file_id, 0.07)
    np.testing.assert_array_equal(twin.image, m.image)
    labels = np.asarray(twin.labels)
    # same MCs: every annotated MC pixel is a twin MC pixel
    assert labels.max() >= len(m.annotations) > 0
    assert (labels[m.mc_mask()] > 0).mean() > 0.95


def test_spacing_twin_keeps_the_physical_size_and_mc_sizes(tiny):
    from hdogreg.data.synth.benchmark import spacing_twin

    ds = InbreastDataset(tiny)
    m = ds.load(ds.file_ids()[0])
    coarse = spacing_twin(tiny, m.file_id, 0.14)
    assert coarse.pixel_spacing == 0.14 and coarse.image.shape == (160, 128)
    assert coarse.image.dtype == np.float32 and 0 <= coarse.image.min() < coarse.image.max() <= 1
    # MC footprints in mm^2 agree in median with the 0.07 mm image's (sizes are physical)
    def median_area_mm2(labels, spacing):
        areas = np.bincount(labels.ravel())[1:]
        return np.median(areas[areas > 0]) * spacing**2
    fine = spacing_twin(tiny, m.file_id, 0.07)
    a07, a14 = median_area_mm2(fine.labels, 0.07), median_area_mm2(coarse.labels, 0.14)
    assert 0.4 < a14 / a07 < 2.5


@pytest.mark.parametrize("spacing", [0.05, 0.14])
def test_spacing_twin_is_the_same_breast_on_another_detector(tiny, spacing):
    """Paired twins: the same MCs where they were, the same anatomy, the detector's own noise."""
    from scipy import ndimage as ndi

    from hdogreg.data.synth.benchmark import spacing_twin
    from hdogreg.spacing import to_native

    ds = InbreastDataset(tiny)
    m = ds.load(ds.file_ids()[0])
    orig = spacing_twin(tiny, m.file_id, 0.07)
    twin = spacing_twin(tiny, m.file_id, spacing)
    lab0, lab1 = np.asarray(orig.labels), np.asarray(twin.labels)
    ids0 = set(np.unique(lab0)) - {0}
    assert len(ids0) > 3 and set(np.unique(lab1)) - {0} == ids0      # every MC, same ids
    f = np.array(lab1.shape) / np.array(lab0.shape)
    c0 = np.array(ndi.center_of_mass(lab0 > 0, lab0, sorted(ids0)))
    c1 = np.array(ndi.center_of_mass(lab1 > 0, lab1, sorted(ids0)))
    np.testing.assert_allclose(c1, (c0 + 0.5) * f - 0.5, atol=1.0)    # within a twin pixel
    # the same anatomy: the original seen on the twin's grid matches it at large scales
    resampled = to_native(orig.image, 0.07, native=spacing)
    smooth = [ndi.gaussian_filter(x, 1.0 / spacing) for x in (resampled, twin.image)]
    inside = (smooth[0] > np.percentile(smooth[0], 40)) & (smooth[0] < 0.5)   # breast, no burn-ins
    assert np.corrcoef(smooth[0][inside], smooth[1][inside])[0, 1] > 0.99
    # ... but it is no resampled copy: the twin's detector drew its own noise
    tissue = (ndi.binary_erosion(inside, iterations=int(2 / spacing))
              & ~ndi.binary_dilation(lab1 > 0, iterations=4))
    fine = [(x - ndi.gaussian_filter(x, 1.5))[tissue] for x in (resampled, twin.image)]
    assert fine[1].std() > 1e-4 and abs(np.corrcoef(*fine)[0, 1]) < 0.8     # a copy: 1


def test_spacing_twin_errors(tiny, tmp_path):
    from hdogreg.data.synth.benchmark import spacing_twin

    with pytest.raises(KeyError, match="not an image of the benchmark"):
        spacing_twin(tiny, "123", 0.1)
    with pytest.raises(FileNotFoundError, match="not a generated benchmark"):
        spacing_twin(tmp_path, "123", 0.1)
    with pytest.raises(ValueError, match="pixel_spacing"):
        spacing_twin(tiny, "123", 70.0)
