"""`hdogreg.data.local`: the point-annotated 'local' set and the case-study cohort readers."""

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from hdogreg.data import DataError, LocalDataset, read_casestudy_cohort


@pytest.fixture
def local(tmp_path):
    """Three 12-bit PNGs, points on two of them, metadata and splits for all."""
    root = tmp_path / "local"
    (root / "images").mkdir(parents=True)
    for name in ("a", "b", "c"):
        raw = np.full((20, 30), 100, np.uint16)
        raw[5, 7] = 4095
        iio.imwrite(root / "images" / f"{name}.png", raw)
    (root / "images" / "notes.txt").write_text("not an image")
    pd.DataFrame({"x": [7, 12, 3], "y": [5, 9, 2], "image": ["a.png", "a.png", "c"]}).to_csv(
        root / "annotations.csv", index=False)
    pd.DataFrame({"image": ["a.png", "b.png", "c.png"], "patient_id": ["p1", "p1", "p2"],
                  "laterality": ["L", "R", "L"], "view": ["CC", "MLO", "CC"]}).to_csv(
        root / "images.csv", index=False)
    pd.DataFrame({"image": ["a.png", "b.png", "c.png"], "patient_id": ["p1", "p1", "p2"],
                  "split": ["train", "train", "test"]}).to_csv(root / "splits.csv", index=False)
    return root


def test_table_lists_images_with_metadata_splits_and_point_counts(local):
    ds = LocalDataset(local, pixel_spacing=0.07)
    assert len(ds) == 3
    t = ds.table.set_index("file_id")
    assert list(t.index) == ["a", "b", "c"]                 # sorted; notes.txt is not an image
    assert t.loc["b", "patient_id"] == "p1" and t.loc["b", "view"] == "MLO"
    assert t["n_points"].to_dict() == {"a": 2, "b": 0, "c": 1}   # "c" matches c.png by stem
    assert ds.file_ids() == ["a", "b", "c"]
    assert ds.file_ids("train") == ["a", "b"] and ds.file_ids("test") == ["c"]


def test_load_gives_points_as_row_col_annotations_and_the_metadata(local):
    ds = LocalDataset(local, pixel_spacing=0.07, vendor="GE")
    mg = ds.load("a")
    assert mg.file_id == "a" and mg.patient_id == "p1" and mg.laterality == "L" and mg.view == "CC"
    assert mg.pixel_spacing == 0.07 and mg.vendor == "GE"
    assert mg.image.dtype == np.float32 and mg.intensity_scale == 65535   # a PNG: the dtype maximum
    assert mg.image[5, 7] == pytest.approx(4095 / 65535)
    assert [a.kind for a in mg.annotations] == ["point", "point"]
    np.testing.assert_array_equal(np.concatenate([a.points for a in mg.annotations]),
                                  [[5, 7], [9, 12]])        # (row, col) from x = col, y = row
    assert ds.load("b").annotations == []
    assert [a.points.tolist() for a in ds.load("c").annotations] == [[[2.0, 3.0]]]


def test_iter_images_follows_the_split(local):
    ds = LocalDataset(local, pixel_spacing=0.07)
    assert [mg.file_id for mg in ds.iter_images("train", progress=False)] == ["a", "b"]


def test_without_optional_files_every_image_has_no_points(local):
    for name in ("annotations.csv", "images.csv", "splits.csv"):
        (local / name).unlink()
    ds = LocalDataset(local, pixel_spacing=0.07)
    assert list(ds.table["n_points"]) == [0, 0, 0]
    assert ds.load("b").annotations == []
    with pytest.raises(ValueError, match="no splits.csv"):
        ds.file_ids("train")


def test_errors_name_the_folder_or_file(local, tmp_path):
    with pytest.raises(DataError, match="images: folder not found"):
        LocalDataset(tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="images: no images"):
        LocalDataset(empty)
    with pytest.raises(KeyError, match="no image 'z'"):
        LocalDataset(local, pixel_spacing=0.07).load("z")
    pd.DataFrame({"x": [1], "y": [2]}).to_csv(local / "annotations.csv", index=False)
    with pytest.raises(DataError, match="annotations.csv: needs an 'image' column"):
        LocalDataset(local, pixel_spacing=0.07)


def test_a_point_outside_its_image_is_refused_on_load(local):
    pd.DataFrame({"x": [30], "y": [5], "image": ["b.png"]}).to_csv(local / "annotations.csv", index=False)
    ds = LocalDataset(local, pixel_spacing=0.07)
    with pytest.raises(DataError, match="lies outside the image"):
        ds.load("b")


@pytest.fixture
def cohort(tmp_path):
    root = tmp_path / "casestudy"
    root.mkdir()
    pd.DataFrame({"roi_id": ["007", "012"], "patient_id": ["01", "02"],
                  "image": ["images/007.dcm", "images/012.dcm"], "x0": [0, 4], "y0": [0, 2],
                  "x1": [256, 260], "y1": [256, 258], "label": [1, 0],
                  "pixel_spacing": [0.035, 0.035]}).to_csv(root / "cohort.csv", index=False)
    return root


@pytest.mark.parametrize("from_file", [False, True])
def test_cohort_keeps_ids_as_text_and_makes_image_paths_absolute(cohort, from_file):
    c = read_casestudy_cohort(cohort / "cohort.csv" if from_file else cohort)
    assert list(c.roi_id) == ["007", "012"] and list(c.patient_id) == ["01", "02"]  # leading zeros
    assert list(c.image) == [cohort / "images" / "007.dcm", cohort / "images" / "012.dcm"]
    assert list(c.label) == [1, 0] and c.x1.tolist() == [256, 260]


def test_cohort_errors_name_the_file(cohort, tmp_path):
    with pytest.raises(DataError, match="cohort.csv: file not found"):
        read_casestudy_cohort(tmp_path)
    frame = pd.read_csv(cohort / "cohort.csv").drop(columns=["label", "x0"])
    frame.to_csv(cohort / "cohort.csv", index=False)
    with pytest.raises(DataError, match=r"cohort.csv: missing columns \['label', 'x0'\]"):
        read_casestudy_cohort(cohort)
