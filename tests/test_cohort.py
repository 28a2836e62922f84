"""Cohorts: inputs and names, whole-folder commits, resume, cohort table, DICOM-SEG, Dask."""

import dataclasses
import json
import os
import shutil

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from hdogreg import cohort
from hdogreg._utils import current_umask
from hdogreg.cohort import collect_inputs, decode_name, run_cohort
from hdogreg.data import DataError
from hdogreg.pipeline import SegmentParams

PARAMS = SegmentParams(window=64, stride=32, normalize="none")
IMAGE_FILES = ("mask.png", "overlay.png", "mcs.csv", "seg.dcm")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A folder of three small DICOMs (two with the stem ``img``) and one corrupt file."""
    from hdogreg.data.synth import synth_mammogram, write_dicom

    root = tmp_path_factory.mktemp("cohort") / "scans"
    paths = []
    for k, sub in enumerate(["a", "b", ""]):
        synth = synth_mammogram(1 + k % 2, shape=(192, 160), count_model="dense")
        name = "img.dcm" if sub else "other.dcm"
        (root / sub).mkdir(parents=True, exist_ok=True)
        paths.append(write_dicom(root / sub / name, synth.raw, bits=synth.bits, pixel_spacing=0.07,
                                 patient_id=f"p{k}", laterality="L", view="CC", uid_seed=(k,)))
    (root / "broken.dcm").write_bytes(b"DICM" * 10)
    return {"root": root, "paths": paths, "broken": root / "broken.dcm"}


@pytest.fixture(scope="module")
def sequential(images, tmp_path_factory, bright_spots):
    """The folder segmented once, in this process."""
    out = tmp_path_factory.mktemp("seq") / "out"
    result = run_cohort(collect_inputs([images["root"]], exclude=out), out, bright_spots, PARAMS,
                        progress=False)
    return out, result


def _folders(out):
    return sorted(p.name for p in (out / "images").iterdir())


# ----------------------------------------------------------------------------- inputs, names


def test_names_are_unique_reversible_and_order_free(tmp_path):
    for rel in ("a/case.dcm", "b/case.dcm", "case.dcm", "CASE.dcm", "x y/%7E.png", ".hidden.dcm"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "IM0001").write_bytes(b"\0" * 128 + b"DICM")   # suffix-less DICOM
    (tmp_path / "README").write_text("not an image")
    found = collect_inputs([tmp_path])
    names = {decode_name(i.name): i.name for i in found}
    # case.dcm / CASE.dcm collide on a case-insensitive disk: both get absolute names
    assert set(names) == {"a/case.dcm", "b/case.dcm", (tmp_path / "case.dcm").as_posix(),
                          (tmp_path / "CASE.dcm").as_posix(), "x y/%7E.png", "IM0001"}
    assert len({n.casefold() for n in names.values()}) == len(names)
    assert all("/" not in n and not n.startswith(".") for n in names.values())
    # two files given by themselves with the same file name
    a, b = tmp_path / "a" / "case.dcm", tmp_path / "b" / "case.dcm"
    one = [i.name for i in collect_inputs([a, b])]
    two = [i.name for i in collect_inputs([b, a])]
    assert len(set(one)) == 2 and one == two[::-1]
    assert [decode_name(n) for n in one] == [a.as_posix(), b.as_posix()]
    # a glob names by the path below its fixed part; the output folder is never an input
    got = collect_inputs([str(tmp_path / "**" / "*.dcm")], exclude=tmp_path / "a")
    assert sorted(decode_name(i.name) for i in got) == sorted(
        ["b/case.dcm", (tmp_path / "case.dcm").as_posix(), (tmp_path / "CASE.dcm").as_posix()])


def test_bad_sources_are_errors_naming_them(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no DICOM, PNG or TIFF images"):
        collect_inputs([tmp_path / "empty"])
    with pytest.raises(DataError, match=r"\*\.dcm: no files match"):
        collect_inputs([str(tmp_path / "*.dcm")])
    with pytest.raises(DataError, match="nope.csv: manifest not found"):
        collect_inputs([tmp_path / "nope.csv"])
    (tmp_path / "m.csv").write_text("file\nx.dcm\n")
    with pytest.raises(DataError, match="m.csv: manifest has no 'path' column"):
        collect_inputs([tmp_path / "m.csv"])
    (tmp_path / "m.csv").write_text("path,pixel_spacing\nx.dcm,0.07\ny.dcm,abc\n")
    with pytest.raises(DataError, match="m.csv: pixel_spacing 'abc' in data row 2"):
        collect_inputs([tmp_path / "m.csv"])


def test_manifest_csv_and_parquet(tmp_path):
    (tmp_path / "d").mkdir()
    rows = pd.DataFrame({"path": ["d/x.dcm", str(tmp_path / "y.png")], "Patient_ID": ["p1", ""],
                         "pixel_spacing": ["0.1", ""], "view": ["CC", "MLO"]})
    rows.to_csv(tmp_path / "m.csv", index=False)
    rows.to_parquet(tmp_path / "m.parquet", index=False)
    for manifest in ("m.csv", "m.parquet"):
        x, y = collect_inputs([tmp_path / manifest])
        assert x.path == tmp_path / "d" / "x.dcm" and x.name == "d%2Fx.dcm"
        assert (x.patient_id, x.pixel_spacing, x.view) == ("p1", 0.1, "CC")
        assert y.name == "y.png" and y.pixel_spacing is None and y.view == "MLO"


# ----------------------------------------------------------------------------- a cohort run


def test_folder_with_a_corrupt_file_finishes_the_others(images, sequential):
    out, result = sequential
    table = result.table
    assert table["name"].tolist() == ["a%2Fimg.dcm", "b%2Fimg.dcm", "broken.dcm", "other.dcm"]
    assert table["status"].tolist() == ["ok", "ok", "failed", "ok"]
    broken = table.set_index("name").loc["broken.dcm"]
    assert broken["error"].startswith(f"{images['broken']}: ") and "DICOM" in broken["error"]
    assert _folders(out) == ["a%2Fimg.dcm", "b%2Fimg.dcm", "other.dcm"]   # none for the failure
    # the two "img.dcm" are different images (seeds 1 and 2): distinct outputs
    a, b = (iio.imread(out / "images" / n / "mask.png") for n in ("a%2Fimg.dcm", "b%2Fimg.dcm"))
    assert not np.array_equal(a, b)
    for name in _folders(out):
        folder = out / "images" / name
        record = json.loads((folder / "outputs.json").read_text())
        assert record["files"] == list(IMAGE_FILES)
        mcs = pd.read_csv(folder / "mcs.csv")
        row = table.set_index("name").loc[name]
        assert row["n_mcs"] == len(mcs) > 0
        assert row["mc_area_px_total"] == mcs["area_px"].sum()
        assert row["mc_area_mm2_total"] == pytest.approx(mcs["area_mm2"].sum())
        assert row["presentation_intent"] == "FOR PRESENTATION" and row["patient_id"].startswith("p")
    # the Parquet and CSV tables hold the same rows
    parquet = pd.read_parquet(out / "cohort.parquet")
    csv = pd.read_csv(out / "cohort.csv")
    assert parquet["status"].tolist() == csv["status"].tolist() == table["status"].tolist()
    assert parquet["n_mcs"].tolist()[:2] == csv["n_mcs"].tolist()[:2]
    assert json.loads(parquet["settings"][0])["params"]["window"] == 64
    assert parquet["model_digest"].nunique() == 1 and len(parquet["model_digest"][0]) == 64


def test_outputs_follow_the_umask(images, tmp_path, bright_spots, monkeypatch):
    previous = os.umask(0o027)
    current_umask.cache_clear()
    try:
        out = tmp_path / "out"
        run_cohort(collect_inputs([images["paths"][2]]), out, bright_spots, PARAMS, progress=False)
    finally:
        os.umask(previous)
        current_umask.cache_clear()
    folder = out / "images" / "other.dcm"
    assert folder.stat().st_mode & 0o777 == 0o750
    assert {(folder / f).stat().st_mode & 0o777 for f in (*IMAGE_FILES, "outputs.json")} == {0o640}
    assert {(out / f).stat().st_mode & 0o777 for f in ("cohort.csv", "cohort.parquet")} == {0o640}


def test_rerun_skips_done_images_and_redoes_changed_settings(images, sequential, tmp_path,
                                                            bright_spots):
    out = tmp_path / "out"
    shutil.copytree(sequential[0], out)
    before = {n: (out / "images" / n / "mask.png").stat().st_mtime_ns for n in _folders(out)}
    again = run_cohort(collect_inputs([images["root"]]), out, bright_spots, PARAMS, progress=False)
    assert again.table["status"].tolist() == ["skipped", "skipped", "failed", "skipped"]
    assert again.table["n_mcs"].tolist()[:2] == sequential[1].table["n_mcs"].tolist()[:2]
    assert {n: (out / "images" / n / "mask.png").stat().st_mtime_ns for n in _folders(out)} == before
    # a per-image setting (the manifest's pixel spacing of one image) redoes that image only
    items = collect_inputs([images["root"]])
    changed = [i if i.name != "other.dcm" else dataclasses.replace(i, pixel_spacing=0.1)
               for i in items if i.name != "broken.dcm"]
    third = run_cohort(changed, out, bright_spots, PARAMS, progress=False)
    assert third.table["status"].tolist() == ["skipped", "skipped", "ok"]
    assert third.table["pixel_spacing"].tolist()[2] == pytest.approx(0.1)
    # other parameters redo everything; force redoes what is up to date
    fourth = run_cohort(changed[:1], out, bright_spots, PARAMS.replace(o_thr=0.5), progress=False)
    assert fourth.table["status"].tolist() == ["ok"]
    fifth = run_cohort(changed[:1], out, bright_spots, PARAMS.replace(o_thr=0.5), force=True,
                       progress=False)
    assert fifth.table["status"].tolist() == ["ok"]
    assert run_cohort(changed[:1], out, bright_spots, PARAMS.replace(o_thr=0.5),
                      progress=False).table["status"].tolist() == ["skipped"]


def test_interrupted_image_leaves_no_partial_output_set(images, tmp_path, bright_spots, monkeypatch):
    import hdogreg.dicom_seg

    out = tmp_path / "out"
    items = collect_inputs(images["paths"][1:])
    write = hdogreg.dicom_seg.write_dicom_seg
    calls = []

    def interrupt_second(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:     # mask, overlay and CSV of the 2nd image are written by now
            assert {p.name for p in path.parent.iterdir()} == {"mask.png", "overlay.png", "mcs.csv"}
            raise KeyboardInterrupt
        return write(path, *args, **kwargs)

    monkeypatch.setattr(hdogreg.dicom_seg, "write_dicom_seg", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        run_cohort(items, out, bright_spots, PARAMS, progress=False)
    assert [p.name for p in (out / "images").iterdir()] == [items[0].name]   # no temporary folder
    table = pd.read_csv(out / "cohort.csv")
    assert table["status"].tolist() == ["ok", "pending"]
    # an interrupted redo (force) keeps the previous complete set
    first = (out / "images" / items[0].name / "outputs.json").read_text()
    calls.clear()
    calls.append(None)          # the next call (first image) is the 2nd: interrupted
    with pytest.raises(KeyboardInterrupt):
        run_cohort(items, out, bright_spots, PARAMS, force=True, progress=False)
    assert (out / "images" / items[0].name / "outputs.json").read_text() == first
    assert sorted(p.name for p in (out / "images").iterdir()) == [items[0].name]
    # the rerun resumes: the first image is skipped, the second made
    monkeypatch.setattr(hdogreg.dicom_seg, "write_dicom_seg", write)
    rerun = run_cohort(items, out, bright_spots, PARAMS, progress=False)
    assert rerun.table["status"].tolist() == ["skipped", "ok"]


def test_dicom_seg_reads_back_into_the_mask(images, sequential):
    import pydicom

    from hdogreg.dicom_seg import read_dicom_seg

    out, _ = sequential
    for path, name in zip(images["paths"], ["a%2Fimg.dcm", "b%2Fimg.dcm", "other.dcm"]):
        folder = out / "images" / name
        mask = iio.imread(folder / "mask.png") > 0
        seg_mask, source_uid = read_dicom_seg(folder / "seg.dcm")
        assert mask.any() and np.array_equal(seg_mask, mask)
        assert source_uid == pydicom.dcmread(path).SOPInstanceUID
        ds = pydicom.dcmread(folder / "seg.dcm")
        assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
        assert np.array_equal(ds.pixel_array.astype(bool), mask)
        ref = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == source_uid
        assert "FrameOfReferenceUID" not in ds


def test_two_dask_workers_give_byte_identical_outputs(images, sequential, tmp_path, bright_spots):
    from distributed import LocalCluster

    seq_out, _ = sequential
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        result = run_cohort(collect_inputs([images["root"]]), out, bright_spots, PARAMS,
                            scheduler=cluster, progress=False)
        workers = len(cluster.workers)
    assert workers == 2
    assert result.table["status"].tolist() == ["ok", "ok", "failed", "ok"]
    assert _folders(out) == _folders(seq_out)
    for name in _folders(out):
        for f in IMAGE_FILES:
            assert (out / "images" / name / f).read_bytes() == \
                (seq_out / "images" / name / f).read_bytes(), (name, f)


def test_cluster_spec_bounds_workers():
    n, threads, memory, torch_threads = cohort.cluster_spec(1)
    assert (n, threads) == (1, 1) and memory == cohort.run.WORKER_MEMORY
    n, _, memory, torch_threads = cohort.cluster_spec(50, 2, memory_limit=2**30)
    assert n == 2 and memory == 2**30 and torch_threads == max(1, (os.cpu_count() or 1) // 2)
    assert cohort.cluster_spec(1, 4)[0] == 1      # never more workers than images


def test_error_message_continues_a_first_line_that_ends_on_a_colon():
    from hdogreg.cohort import error_message

    exc = RuntimeError("Unable to decode as exceptions were raised by all available plugins:\n"
                       "  pyjpegls: Decoding error: bad marker\n  later: detail")
    assert error_message("a.dcm", exc) == ("a.dcm: Unable to decode as exceptions were raised by all "
                                           "available plugins: pyjpegls: Decoding error: bad marker")
    assert error_message("a.dcm", ValueError("a.dcm: bad\nmore")) == "a.dcm: bad"
    assert error_message("a.dcm", KeyError()) == "a.dcm: KeyError"
    assert error_message("a.dcm", ValueError("ends on:")) == "a.dcm: ends on:"   # nothing to add
