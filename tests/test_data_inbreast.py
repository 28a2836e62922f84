"""INbreast reader on a fixture written by hand (plist text + pydicom), and every bad input."""

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless

from hdogreg.data import (
    DataError,
    DataWarning,
    InbreastDataset,
    parse_inbreast_name,
    read_dicom,
    read_inbreast_xml,
)

PLIST_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>Images</key>
\t<array>
\t\t<dict>
\t\t\t<key>ImageIndex</key>
\t\t\t<integer>0</integer>
\t\t\t<key>NumberOfROIs</key>
\t\t\t<integer>{n}</integer>
\t\t\t<key>ROIs</key>
\t\t\t<array>
"""
PLIST_TAIL = "\t\t\t</array>\n\t\t</dict>\n\t</array>\n</dict>\n</plist>\n"


def roi(name, points, type_):
    pts = "".join(f"<string>({x:.6f}, {y:.6f})</string>" for x, y in points)
    mm = "<string>(0.000000, 0.000000, 0.000000)</string>" * len(points)
    return (f"\t\t\t\t<dict><key>Area</key><real>0</real><key>Center</key><string>(0, 0)</string>"
            f"<key>Dev</key><real>0</real><key>IndexInImage</key><integer>0</integer>"
            f"<key>Max</key><real>0</real><key>Mean</key><real>0</real><key>Min</key><real>0</real>"
            f"<key>Name</key><string>{name}</string><key>NumberOfPoints</key><integer>{len(points)}</integer>"
            f"<key>Point_mm</key><array>{mm}</array><key>Point_px</key><array>{pts}</array>"
            f"<key>Total</key><real>0</real><key>Type</key><integer>{type_}</integer></dict>\n")


def write_plist(path, rois):
    path.write_text(PLIST_HEAD.format(n=len(rois)) + "".join(rois) + PLIST_TAIL)


def write_dcm(path, raw, bits=14, spacing=0.07, lat="R", view="CC", pid="abc"):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, "1.2.3.4"
    ds.PatientID, ds.ImageLaterality, ds.ViewPosition = pid, lat, view
    ds.Rows, ds.Columns = raw.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelSpacing = [spacing, spacing]
    ds.PixelData = raw.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


H, W = 40, 50
# Point_px is "(x, y)": x = column, y = row
POINT_XY = (12.0, 30.0)
SQUARE_XY = [(20, 5), (26, 5), (26, 9), (20, 9)]  # columns 20..26, rows 5..9


@pytest.fixture
def inbreast(tmp_path):
    root = tmp_path / "INbreast"
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    raw = (np.arange(H * W).reshape(H, W) % 16384).astype(np.uint16)
    raw[0, 0] = 16383
    write_dcm(root / "AllDICOMs" / "20586908_6c613a14b80a8591_MG_R_CC_ANON.dcm", raw)
    write_dcm(root / "AllDICOMs" / "22614097_6c613a14b80a8591_MG_L_MLO_ANON.dcm", raw, lat="L", view="MLO")
    write_plist(root / "AllXML" / "20586908.xml", [
        roi("Calcification", [POINT_XY], 19),
        roi("Mass", [(1, 1), (10, 1), (10, 10)], 15),
        roi("Calcification", SQUARE_XY, 15),
        roi("Cluster", [(5, 5), (30, 5), (30, 30)], 15),
    ])
    (root / "INbreast.csv").write_text(
        "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads\n"
        "removed;50;R;CC;201001;20586908;2;4a\nremoved;50;L;MLO;201001;22614097;2;1\n")
    return root


def test_reads_hand_written_fixture(inbreast):
    ds = InbreastDataset(inbreast)
    assert len(ds) == 2 and list(ds.table.columns[:7]) == [
        "file_id", "patient_id", "laterality", "view", "dicom", "xml", "vendor"]
    row = ds.table.set_index("file_id").loc["20586908"]
    assert (row.patient_id, row.laterality, row.view, row["Bi-Rads"]) == ("6c613a14b80a8591", "R", "CC", "4a")
    assert ds.table.set_index("file_id").loc["22614097"].xml is None
    mg = ds.load("20586908")
    assert mg.image.dtype == np.float32 and mg.image.shape == (H, W)
    assert mg.intensity_scale == 2**14 - 1 and mg.image.max() == 1.0
    assert mg.image[0, 1] == pytest.approx(1 / 16383)
    assert mg.pixel_spacing == pytest.approx(0.07)
    assert (mg.laterality, mg.view, mg.patient_id) == ("R", "CC", "6c613a14b80a8591")
    # calcifications only, in file order; others kept apart
    assert [a.kind for a in mg.annotations] == ["point", "contour"]
    assert [a.name for a in mg.other_annotations] == ["Mass", "Cluster"]
    np.testing.assert_array_equal(mg.annotations[0].points, [[30.0, 12.0]])  # (row, col)
    lab = mg.mc_labels()
    assert lab[30, 12] == 1 and (lab == 1).sum() == 1
    expected = np.zeros((H, W), bool)
    expected[5:10, 20:27] = True
    np.testing.assert_array_equal(lab == 2, expected)
    assert ds.load("22614097").annotations == []


@pytest.mark.parametrize("name,lat,view", [
    ("20586908_6c613a14b80a8591_MG_R_CC_ANON.dcm", "R", "CC"),
    ("53586869_8ff3a8f6b5b0f4b5_MG_L_MLO_ANON.dcm", "L", "MLO"),
    ("24065734_5291e1aee2bbf5df_MG_L_ML_ANON.dcm", "L", "ML"),
])
def test_laterality_view_parsing(name, lat, view):
    info = parse_inbreast_name(name)
    assert (info["laterality"], info["view"]) == (lat, view)
    assert info["file_id"] == name.split("_")[0]


def test_bad_file_name(tmp_path):
    with pytest.raises(DataError, match="not an INbreast DICOM name"):
        parse_inbreast_name("scan.dcm")


def test_missing_files(tmp_path, inbreast):
    with pytest.raises(DataError, match="AllDICOMs.*not found"):
        InbreastDataset(tmp_path / "nowhere")
    with pytest.raises(DataError, match="nope.xml: file not found"):
        read_inbreast_xml(tmp_path / "nope.xml")
    with pytest.raises(DataError, match="x.dcm: file not found"):
        read_dicom(tmp_path / "x.dcm")
    (tmp_path / "d.xml").mkdir()
    for read in (read_dicom, read_inbreast_xml):
        with pytest.raises(DataError, match="d.xml: is a folder, expected a file$"):
            read(tmp_path / "d.xml")
    with pytest.raises(KeyError):
        InbreastDataset(inbreast).load("12345")


def test_unreadable_dicom(tmp_path, inbreast):
    bad = tmp_path / "junk.dcm"
    bad.write_bytes(b"this is not a DICOM file at all")
    with pytest.raises(DataError, match="junk.dcm: .*DICOM"):
        read_dicom(bad)
    src = next((inbreast / "AllDICOMs").glob("*CC*.dcm")).read_bytes()
    cut = tmp_path / "truncated.dcm"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(DataError, match="truncated.dcm"):
        read_dicom(cut)


def _compressed(path, syntax):
    from pydicom.encaps import encapsulate

    write_dcm(path, np.zeros((8, 8), np.uint16))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + b"\x00" * 32])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_corrupt_compressed_dicom_with_a_decoder_installed(tmp_path):
    path = _compressed(tmp_path / "jpegls.dcm", JPEGLSLossless)   # pyjpegls is a dependency
    message = (r"jpegls.dcm: compressed pixel data \(JPEG-LS Lossless Image Compression\) are corrupt or "
               r"not decodable \(RuntimeError: .*plugins: pyjpegls")
    with pytest.raises(DataError, match=message) as exc:
        read_dicom(path)
    assert "install" not in str(exc.value) and "\n" not in str(exc.value)


def test_compressed_dicom_without_a_decoder(tmp_path):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    if get_decoder(JPEGLosslessSV1).is_available:   # pylibjpeg-libjpeg / gdcm are not in the lock
        pytest.skip("a lossless-JPEG decoder is installed")
    path = _compressed(tmp_path / "ljpeg.dcm", JPEGLosslessSV1)
    with pytest.raises(DataError, match=r"ljpeg.dcm: compressed pixel data \(JPEG Lossless, .*\) cannot be "
                       r"decoded: no decoder for it is installed \(install pylibjpeg"):
        read_dicom(path)


def test_malformed_xml(tmp_path):
    p = tmp_path / "bad.xml"
    p.write_text(PLIST_HEAD.format(n=1) + "<dict><key>Name</key>")
    with pytest.raises(DataError, match="bad.xml: malformed XML"):
        read_inbreast_xml(p)
    p.write_text('<?xml version="1.0"?><plist version="1.0"><array/></plist>')
    with pytest.raises(DataError, match="bad.xml: malformed XML"):
        read_inbreast_xml(p)


def test_malformed_point_string(tmp_path):
    p = tmp_path / "pt.xml"
    write_plist(p, [roi("Calcification", [(1, 2)], 19).replace("(1.000000, 2.000000)", "(1.0; 2.0)")])
    with pytest.raises(DataError, match="pt.xml: ROI 1: malformed point"):
        read_inbreast_xml(p)


def test_point_outside_image(tmp_path, inbreast):
    write_plist(inbreast / "AllXML" / "20586908.xml", [roi("Calcification", [(W + 3, 2)], 19)])
    with pytest.raises(DataError,
                       match=r"20586908.xml: ROI 1 \(Calcification\): point \(x=53, y=2\) lies outside"):
        InbreastDataset(inbreast).load("20586908")


def test_other_rois_outside_the_image_are_clipped(inbreast):
    """Real INbreast files: a Spiculated Region ellipse reaches past the image edge."""
    write_plist(inbreast / "AllXML" / "20586908.xml", [
        roi("Calcification", [(5, 6)], 19),
        roi("Spiculated Region", [(W - 10, 3), (W + 80, 4), (W - 5, 12), (-2, 8)], 9)])
    with pytest.warns(DataWarning, match=r"20586908.xml: ROI 2 \(Spiculated Region\): 2 of 4 points lie "
                      r"outside the image of 50x40 \(width x height\), up to 81 px past its edge; clipped"):
        mg = InbreastDataset(inbreast).load("20586908")
    assert len(mg.annotations) == 1
    (other,) = mg.other_annotations
    assert other.name == "Spiculated Region"
    assert other.points[:, 1].max() == W - 1 and other.points[:, 1].min() == 0
    np.testing.assert_array_equal(other.points[0], [3, W - 10])   # points inside are kept


def test_mass_contour_past_the_edge_is_clipped_calcification_past_it_is_an_error(tmp_path):
    p = tmp_path / "edge.xml"
    mass = [(10, 0), (20, -0.4), (30, 5), (W + 0.6, 20), (12, 38)]   # -0.4 rounds onto the image
    write_plist(p, [roi("Mass", mass, 15), roi("Calcification", [(3, 4), (5, 4), (4, 6)], 15)])
    with pytest.warns(DataWarning, match=r"edge.xml: ROI 1 \(Mass\): 1 of 5 points") as record:
        calcs, (other,) = read_inbreast_xml(p, shape=(H, W))
    assert len(record) == 1                                     # one warning per clipped ROI
    np.testing.assert_array_equal(other.points, [[0, 10], [0, 20], [5, 30], [20, W - 1], [38, 12]])
    assert len(calcs) == 1 and calcs[0].kind == "contour"      # the calcification is intact
    write_plist(p, [roi("Mass", mass, 15), roi("Calcification", [(3, 4), (W + 0.6, 4)], 15)])
    with pytest.warns(DataWarning), pytest.raises(DataError, match=r"edge.xml: ROI 2 \(Calcification\): "
                                                  r"point \(x=50.6, y=4\) lies outside"):
        read_inbreast_xml(p, shape=(H, W))


def test_no_warning_without_a_shape_or_inside_it(tmp_path):
    import warnings

    p = tmp_path / "in.xml"
    write_plist(p, [roi("Mass", [(0, 0), (W - 1, 0), (W - 1, H - 1)], 15)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_inbreast_xml(p, shape=(H, W))
        write_plist(p, [roi("Mass", [(-5, 0), (W + 9, 0), (W - 1, H - 1)], 15)])
        (_, (other,)) = read_inbreast_xml(p)                    # no shape: nothing to clip against
    assert other.points[:, 1].tolist() == [-5, W + 9, W - 1]


def test_empty_polygon(tmp_path):
    p = tmp_path / "empty.xml"
    write_plist(p, [roi("Calcification", [], 15)])
    with pytest.raises(DataError, match="empty.xml: ROI 1 \\(Calcification\\): empty polygon"):
        read_inbreast_xml(p)


def test_errors_are_value_errors():
    assert issubclass(DataError, ValueError)


def test_splits_keep_only_patients_with_calcifications(inbreast):
    from hdogreg.data import inbreast_splits

    raw = np.zeros((H, W), np.uint16)
    write_dcm(inbreast / "AllDICOMs" / "30000001_ffff000011112222_MG_L_CC_ANON.dcm", raw, lat="L", pid="x")
    frame = inbreast_splits(InbreastDataset(inbreast))
    assert set(frame.patient_id) == {"6c613a14b80a8591"}
    assert len(frame) == 2  # both images of that patient, also the one without an XML
    assert len(inbreast_splits(InbreastDataset(inbreast), require_mcs=False)) == 3


def test_empty_roi_of_another_name_is_skipped(tmp_path):
    p = tmp_path / "other.xml"
    write_plist(p, [roi("Distortion", [], 15), roi("Calcification", [(3, 4)], 19)])
    calcs, others = read_inbreast_xml(p)
    assert len(calcs) == 1 and others == []
