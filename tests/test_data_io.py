"""Plain PNG/TIFF/DICOM readers and point CSVs."""

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile

from hdogreg.data import DataError, load_image, read_image, read_points_csv
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
    assert meta == {"intensity_scale": 65535.0, "pixel_spacing": 0.05}


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
    assert read_image(tmp_path / "m.dcm", 0.1)[1]["pixel_spacing"] == 0.1
    mg = load_image(tmp_path / "m.dcm")
    assert (mg.laterality, mg.view, mg.patient_id) == ("L", "ML", "p1")


def test_points_csv_x_is_column(tmp_path, raw):
    iio.imwrite(tmp_path / "a.png", raw)
    pd.DataFrame({"x": [20, 3], "y": [10, 4], "image": ["a.png", "other.png"]}).to_csv(tmp_path / "p.csv", index=False)
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
