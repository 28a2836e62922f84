"""Plain PNG/TIFF/DICOM readers and point CSVs."""

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile

from hdogreg.data import DataError, load_image, read_dicom, read_image, read_points_csv
from hdogreg.data.synth import write_dicom


@pytest.fixture
def raw():
    r = np.zeros((30, 40), np.uint16)
    r[10, 20] = 65535
    r[5, 5] = 1000
    return r


def test_png_16bit_keeps_full_depth(tmp_path, raw):
    iio.imwrite(tmp_path / "a.png", raw)
    img, meta = read_image(tmp_path / "a.png", 0.05)
    assert img.dtype == np.float32 and img[10, 20] == 1.0
    assert img[5, 5] == pytest.approx(1000 / 65535)
    assert meta == {"intensity_scale": 65535.0, "pixel_spacing": 0.05, "spacing_source": "given"}


def test_tiff_with_explicit_scale(tmp_path, raw):
    tifffile.imwrite(tmp_path / "a.tif", (raw >> 4).astype(np.uint16))  # 12-bit data in 16-bit words
    img, meta = read_image(tmp_path / "a.tif", 0.07, intensity_scale=4095)
    assert img[10, 20] == 1.0 and meta["intensity_scale"] == 4095


def test_png_needs_spacing(tmp_path, raw):
    iio.imwrite(tmp_path / "a.png", raw)
    with pytest.raises(DataError, match="a.png: pixel_spacing must be given"):
        read_image(tmp_path / "a.png")


def test_dicom_spacing_from_header_or_argument(tmp_path):
    write_dicom(tmp_path / "m.dcm", np.full((8, 9), 4095, np.uint16), bits=12, pixel_spacing=0.07,
                patient_id="p1", laterality="L", view="ML")
    img, meta = read_image(tmp_path / "m.dcm")
    assert meta["pixel_spacing"] == pytest.approx(0.07) and meta["intensity_scale"] == 4095
    assert img.max() == 1.0
    assert meta["spacing_source"] == "PixelSpacing"
    assert read_image(tmp_path / "m.dcm", 0.1)[1]["pixel_spacing"] == 0.1
    assert read_image(tmp_path / "m.dcm", 0.1)[1]["spacing_source"] == "given"
    mg = load_image(tmp_path / "m.dcm")
    assert (mg.laterality, mg.view, mg.patient_id) == ("L", "ML", "p1")


def test_points_csv_x_is_column(tmp_path, raw):
    iio.imwrite(tmp_path / "a.png", raw)
    points = pd.DataFrame({"x": [20, 3], "y": [10, 4], "image": ["a.png", "other.png"]})
    points.to_csv(tmp_path / "p.csv", index=False)
    mg = load_image(tmp_path / "a.png", 0.07, points=tmp_path / "p.csv")
    assert len(mg.annotations) == 1 and mg.annotations[0].kind == "point"
    assert np.argwhere(mg.mc_mask()).tolist() == [[10, 20]]
    assert len(read_points_csv(tmp_path / "p.csv", image="other")) == 1


def test_points_csv_errors(tmp_path, raw):
    iio.imwrite(tmp_path / "a.png", raw)
    (tmp_path / "nocol.csv").write_text("col,row\n1,2\n")
    with pytest.raises(DataError, match="nocol.csv: missing column 'x'"):
        read_points_csv(tmp_path / "nocol.csv")
    (tmp_path / "nan.csv").write_text("x,y\n1,2\n3,abc\n")
    with pytest.raises(DataError, match="nan.csv: non-numeric .* row 2"):
        read_points_csv(tmp_path / "nan.csv")
    (tmp_path / "out.csv").write_text("x,y\n45,2\n")
    with pytest.raises(DataError, match=r"out.csv: point \(x=45, y=2\) lies outside"):
        load_image(tmp_path / "a.png", 0.07, points=tmp_path / "out.csv")
    with pytest.raises(DataError, match="missing.csv: file not found"):
        read_points_csv(tmp_path / "missing.csv")


def test_unreadable_png(tmp_path):
    (tmp_path / "b.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="b.png: unreadable image"):
        read_image(tmp_path / "b.png", 0.07)


# ----------------------------------------------------------------------------- DICOM spacing

RAW = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 30
MAG = "EstimatedRadiographicMagnificationFactor"


@pytest.mark.parametrize("tags, spacing, source", [
    # PixelSpacing (calibrated at the patient) wins over the detector's spacing.
    ({"PixelSpacing": ["0.1", "0.1"], "ImagerPixelSpacing": ["0.12", "0.12"], MAG: "1.2"},
     0.1, "PixelSpacing"),
    ({"PixelSpacing": ["0.1", "0.1"], "ImagerPixelSpacing": ["0.085", "0.085"]}, 0.1, "PixelSpacing"),
    # Else the detector spacing divided by the magnification factor...
    ({"ImagerPixelSpacing": ["0.085", "0.085"], MAG: "1.0869"}, 0.085 / 1.0869,
     "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"),
    # ... or as it is without one.
    ({"ImagerPixelSpacing": ["0.1", "0.1"]}, 0.1, "ImagerPixelSpacing"),
    # An empty PixelSpacing counts as absent.
    ({"PixelSpacing": "", "ImagerPixelSpacing": ["0.07", "0.07"]}, 0.07, "ImagerPixelSpacing"),
    # Rows and columns within 1%: their mean.
    ({"PixelSpacing": ["0.1", "0.1005"]}, 0.10025, "PixelSpacing"),
    ({}, None, None),
])
def test_dicom_spacing_precedence(tmp_path, make_dicom, tags, spacing, source):
    path = make_dicom(tmp_path / "s.dcm", RAW, **tags)
    image, meta = read_dicom(path)
    assert image.shape == RAW.shape
    assert meta["spacing_source"] == source
    if spacing is None:
        assert meta["pixel_spacing"] is None
    else:
        assert meta["pixel_spacing"] == pytest.approx(spacing, rel=1e-12)
        assert read_image(path)[1]["pixel_spacing"] == pytest.approx(spacing, rel=1e-12)
        assert load_image(path).pixel_spacing == pytest.approx(spacing, rel=1e-12)
    # A given spacing overrides the header and says so.
    given = read_image(path, 0.05)[1]
    assert (given["pixel_spacing"], given["spacing_source"]) == (0.05, "given")


def test_dicom_without_spacing_asks_for_it(tmp_path, make_dicom):
    path = make_dicom(tmp_path / "nospacing.dcm", RAW)
    with pytest.raises(DataError, match=r"nospacing\.dcm: the DICOM header gives no pixel spacing "
                                        r".*PixelSpacing.*ImagerPixelSpacing.*--pixel-spacing"):
        read_image(path)
    assert load_image(path, 0.07).pixel_spacing == 0.07


def test_dicom_non_square_pixels_refused(tmp_path, make_dicom):
    path = make_dicom(tmp_path / "aniso.dcm", RAW, PixelSpacing=["0.1", "0.12"])
    with pytest.raises(DataError, match=r"aniso\.dcm: non-square pixels \(PixelSpacing: row 0\.1 mm, "
                                        r"column 0\.12 mm.*more than 1%\); resample"):
        read_dicom(path)
    path = make_dicom(tmp_path / "aniso2.dcm", RAW, ImagerPixelSpacing=["0.1", "0.102"])
    with pytest.raises(DataError, match="non-square pixels \\(ImagerPixelSpacing"):
        read_image(path, 0.1)      # one number cannot describe it, even given


@pytest.mark.parametrize("tags, what", [
    ({"ImagerPixelSpacing": ["0.1", "0.1"], MAG: "0"}, MAG),
    ({"ImagerPixelSpacing": ["0.1", "0.1"], MAG: "-1.1"}, MAG),
    ({"PixelSpacing": ["0.1", "0.1", "0.1"]}, "PixelSpacing"),
])
def test_dicom_malformed_spacing_refused(tmp_path, make_dicom, tags, what):
    path = make_dicom(tmp_path / "bad.dcm", RAW, **tags)
    with pytest.raises(DataError, match=rf"bad\.dcm: malformed {what}"):
        read_dicom(path)


def test_dicom_header_spacing_is_reported_as_is(tmp_path, make_dicom):
    # 70 (µm written as mm): the reader reports it; plausibility is the pipeline's check.
    path = make_dicom(tmp_path / "um.dcm", RAW, PixelSpacing=["70", "70"])
    assert read_dicom(path)[1]["pixel_spacing"] == 70.0
    assert read_image(path)[1]["pixel_spacing"] == 70.0
    # A zero spacing is no spacing at all: read_image asks for one, naming file and tag.
    path = make_dicom(tmp_path / "zero.dcm", RAW, ImagerPixelSpacing=["0", "0"])
    assert read_dicom(path)[1]["pixel_spacing"] == 0.0
    with pytest.raises(DataError, match=r"zero\.dcm: ImagerPixelSpacing 0 mm .*--pixel-spacing"):
        read_image(path)
    assert read_image(path, 0.1)[1]["pixel_spacing"] == 0.1


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0, -0.1])
def test_given_spacing_must_be_finite_and_positive(tmp_path, raw, bad):
    iio.imwrite(tmp_path / "a.png", raw)
    with pytest.raises(ValueError, match="pixel_spacing must be a finite number > 0"):
        read_image(tmp_path / "a.png", bad)


# ----------------------------------------------------------------------------- DICOM values


def test_values_beyond_bits_stored_are_reported(tmp_path, make_dicom):
    raw = np.array([[0, 100, 4095], [5000, 7, 9]], np.uint16)   # 5000 needs 13 bits
    path = make_dicom(tmp_path / "over.dcm", raw, bits=12)
    with pytest.raises(DataError, match=r"over\.dcm: pixel values up to 5000 exceed BitsStored = 12 "
                                        r"\(maximum 4095\)"):
        read_dicom(path)
    ok = make_dicom(tmp_path / "ok.dcm", np.minimum(raw, 4095), bits=12)
    assert read_dicom(ok)[0].max() == 1.0


def test_monochrome1_inverted_and_presentation_intent_recorded(tmp_path, make_dicom):
    raw = np.array([[0, 4095], [1000, 2000]], np.uint16)
    m1 = make_dicom(tmp_path / "m1.dcm", raw, photometric="MONOCHROME1",
                    PresentationIntentType="FOR PROCESSING")
    image, meta = read_dicom(m1)
    np.testing.assert_allclose(image, 1 - raw / 4095, atol=1e-6)
    assert (meta["photometric"], meta["presentation_intent"]) == ("MONOCHROME1", "FOR PROCESSING")
    assert read_dicom(make_dicom(tmp_path / "m2.dcm", raw))[1]["presentation_intent"] == ""


def test_plain_values_outside_the_intensity_scale_are_errors(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.array([[0.0, 1.5]], np.float32))
    with pytest.raises(DataError, match=r"f\.tif: pixel values 0\.\.1\.5 lie outside \[0, 1\].*"
                                        "--intensity-scale"):
        read_image(tmp_path / "f.tif", 0.07)
    img, meta = read_image(tmp_path / "f.tif", 0.07, intensity_scale=2)
    assert img.tolist() == [[0.0, 0.75]] and meta["intensity_scale"] == 2
    tifffile.imwrite(tmp_path / "w.tif", np.array([[0, 5000]], np.uint16))
    with pytest.raises(DataError, match=r"w\.tif: pixel values 0\.\.5000 lie outside \[0, 4095\]"):
        read_image(tmp_path / "w.tif", 0.07, intensity_scale=4095)
    tifffile.imwrite(tmp_path / "n.tif", np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(DataError, match=r"n\.tif: image contains NaN"):
        read_image(tmp_path / "n.tif", 0.07)


def test_voi_lut_only_when_asked(tmp_path, make_dicom):
    raw = np.array([[0, 1000, 2000], [3000, 4095, 1500]], np.uint16)
    win = make_dicom(tmp_path / "w.dcm", raw, WindowCenter="2000", WindowWidth="2000")
    stored, meta = read_dicom(win)
    np.testing.assert_allclose(stored, raw / 4095, atol=1e-6)
    assert meta["voi_lut"] == ""
    shown, meta = read_image(win, 0.07, voi_lut=True)
    assert meta["voi_lut"] == "window"
    assert shown[0, 0] == 0 and shown[1, 1] == 1 and shown[0, 2] == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(DataError, match=r"plain\.dcm: a VOI LUT was asked for but the header has "
                                        "neither"):
        read_dicom(make_dicom(tmp_path / "plain.dcm", raw), voi_lut=True)
