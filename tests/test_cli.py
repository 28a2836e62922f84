import hashlib
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch

from hdogreg import cli
from hdogreg.pipeline import MC_TABLE_COLUMNS

SMALL = ["--window", "64", "--stride", "32", "--quiet", "--workers", "1"]
OUTPUTS = ("mask.png", "overlay.png", "mcs.csv")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from hdogreg.data.synth import synth_mammogram, write_dicom

    root = tmp_path_factory.mktemp("inputs")
    synth = synth_mammogram(0, shape=(320, 256), count_model="dense")
    dcm = write_dicom(root / "case.dcm", synth.raw, bits=synth.bits, pixel_spacing=0.07,
                      patient_id="p0", laterality="L", view="CC")
    png = root / "case_png.png"
    scaled = np.round(synth.raw.astype(np.float64) * 65535 / (2 ** synth.bits - 1))
    iio.imwrite(png, scaled.astype(np.uint16))
    txt = root / "notes.txt"
    txt.write_text("this is not an image\n")
    return {"dcm": dcm, "png": png, "txt": txt, "shape": synth.raw.shape}


@pytest.fixture
def stand_in(monkeypatch, tmp_path, bright_spots):
    """A checkpoint path whose loading yields the stand-in network (no training needed)."""
    ckpt = tmp_path / "stand_in.pt"
    ckpt.write_bytes(b"")
    monkeypatch.setattr(cli, "_load_model", lambda path: (bright_spots, {"encoder": "stand-in"}))
    return ckpt


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_outputs(out, name, shape):
    folder = out / "images" / name
    for file in OUTPUTS:
        assert (folder / file).is_file()
    mask = iio.imread(folder / "mask.png")
    overlay = iio.imread(folder / "overlay.png")
    table = pd.read_csv(folder / "mcs.csv")
    assert mask.shape == shape and set(np.unique(mask)) <= {0, 255}
    assert overlay.shape == (*shape, 3)
    assert list(table.columns) == MC_TABLE_COLUMNS
    from scipy import ndimage as ndi

    assert len(table) == ndi.label(mask > 0)[1]
    return mask, table


def test_segment_dicom_and_png_write_all_outputs(inputs, stand_in, tmp_path):
    out = tmp_path / "out"
    before = {k: _digest(inputs[k]) for k in ("dcm", "png")}
    assert cli.main(["segment", str(inputs["dcm"]), "--out", str(out), "--model", str(stand_in),
                     *SMALL]) == 0
    mask, table = _check_outputs(out, "case.dcm", inputs["shape"])
    assert len(table) > 0
    assert table["area_mm2"].to_numpy() == pytest.approx(table["area_px"].to_numpy() * 0.0049)
    assert cli.main(["segment", str(inputs["png"]), "--out", str(out), "--model", str(stand_in),
                     "--pixel-spacing", "0.07", *SMALL]) == 0
    mask_png, table_png = _check_outputs(out, "case_png.png", inputs["shape"])
    # Same pixels (up to the 16-bit rescaling of the PNG) -> nearly the same segmentation.
    assert abs(len(table_png) - len(table)) <= max(2, len(table) // 10)
    assert {k: _digest(inputs[k]) for k in ("dcm", "png")} == before   # inputs untouched


def test_text_file_fails_cleanly_and_batch_continues(inputs, stand_in, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["segment", str(inputs["txt"]), str(inputs["dcm"]), "--out", str(out),
                     "--model", str(stand_in), *SMALL])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0] == f"hdogreg: error: {inputs['txt']}: not a DICOM, PNG or TIFF image"
    assert not list((out / "images").glob("notes*"))
    _check_outputs(out, "case.dcm", inputs["shape"])
    table = pd.read_csv(out / "cohort.csv")
    assert table["status"].tolist() == ["failed", "ok"]
    assert table["error"][0] == f"{inputs['txt']}: not a DICOM, PNG or TIFF image"
    assert inputs["txt"].read_text() == "this is not an image\n"


def test_png_needs_pixel_spacing_and_missing_file(inputs, stand_in, tmp_path, capsys):
    code = cli.main(["segment", str(inputs["png"]), str(tmp_path / "missing.dcm"),
                     "--out", str(tmp_path), "--model", str(stand_in), *SMALL])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "--pixel-spacing" in err[0] and str(inputs["png"]) in err[0]
    assert str(tmp_path / "missing.dcm") in err[1] and "not found" in err[1]


def test_duplicate_stems_do_not_overwrite(inputs, stand_in, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    copy = other / inputs["dcm"].name
    copy.write_bytes(inputs["dcm"].read_bytes())
    out = tmp_path / "out"
    assert cli.main(["segment", str(inputs["dcm"]), str(copy), "--out", str(out),
                     "--model", str(stand_in), *SMALL]) == 0
    from hdogreg.cohort import decode_name

    names = sorted(p.name for p in (out / "images").iterdir())
    assert len(names) == 2
    assert sorted(decode_name(n) for n in names) == sorted(
        p.resolve().as_posix() for p in (inputs["dcm"], copy))
    for name in names:
        _check_outputs(out, name, inputs["shape"])


def test_missing_default_model_explains_how_to_make_it(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HDOGREG_MODEL", str(tmp_path / "nope.pt"))
    code = cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.pt" in err and "$HDOGREG_MODEL" in err and "--model" in err
    assert not (tmp_path / "o").exists()


def test_bad_options_exit_with_usage_error(inputs, stand_in, tmp_path):
    for bad in (["--pixel-spacing", "-1"], ["--window", "50"], ["--o-thr", "3"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path), "--model",
                      str(stand_in), *bad])
        assert exc.value.code == 2


@pytest.mark.parametrize("option", ["--p-thr", "--o-thr"])
@pytest.mark.parametrize("bad", ["2", "-0.5", "1.0001", "nan", "inf", "-inf"])
def test_thresholds_outside_the_unit_interval_are_refused_by_their_option_name(
        inputs, stand_in, tmp_path, capsys, option, bad):
    with pytest.raises(SystemExit) as exc:
        cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o"), "--model",
                  str(stand_in), f"{option}={bad}", *SMALL])   # "=": argparse reads -inf as an option
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"hdogreg segment: error: argument {option}: must be a number in [0, 1], got {bad}"
    assert not (tmp_path / "o").exists()


def test_threshold_options_at_the_ends_of_the_interval_are_accepted(inputs, stand_in, tmp_path):
    for p_thr, o_thr in (("0", "1"), ("1", "0")):
        assert cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / p_thr), "--model",
                         str(stand_in), "--p-thr", p_thr, "--o-thr", o_thr, *SMALL]) == 0


def test_an_option_error_names_the_option_not_the_api_argument(inputs, stand_in, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path), "--model", str(stand_in),
                  "--o-thr", "abc"])
    err = capsys.readouterr().err
    assert "argument --o-thr: expected a number in [0, 1], got 'abc'" in err and "o_thr" not in err


def test_a_folder_is_not_a_missing_file(inputs, stand_in, tmp_path, capsys):
    folder = tmp_path / "scan.dcm"          # a folder named like an image, listed in a manifest
    folder.mkdir()
    manifest = tmp_path / "list.csv"
    pd.DataFrame({"path": [str(folder)], "pixel_spacing": [0.07]}).to_csv(manifest, index=False)
    assert cli.main(["segment", str(manifest), "--out", str(tmp_path / "o"), "--model", str(stand_in),
                     *SMALL]) == 1
    assert capsys.readouterr().err == f"hdogreg: error: {folder}: is a folder, expected a file\n"


def test_a_folder_is_not_a_missing_model(inputs, tmp_path, capsys):
    assert cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o"), "--model",
                     str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a folder, expected a model checkpoint (.pt)" in err and "not found" not in err


def test_corrupt_checkpoint_gets_no_torch_advice(inputs, tmp_path, capsys):
    import json

    from hdogreg.regression import DEFAULT_ENCODER

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint " * 64)
    bad.with_suffix(".json").write_text(json.dumps({"encoder": DEFAULT_ENCODER}))
    assert cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o"), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hdogreg: error: {bad}: not a readable model checkpoint")
    assert "weights_only" not in err and err.count("\n") == 1 and not err.rstrip().endswith(":")
    torch.save({"weights": np.arange(3)}, bad)      # a pickle that needs code to load: refused too
    assert cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o"), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a readable model checkpoint" in err and "weights_only" not in err
    assert not (tmp_path / "o").exists()


def test_corrupt_compressed_dicom_is_not_a_missing_decoder(inputs, stand_in, tmp_path, capsys):
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless

    ds = pydicom.dcmread(inputs["dcm"])
    ds.compress(JPEGLSLossless)                      # pyjpegls (a dependency) encodes and decodes
    ds.PixelData = encapsulate([b"\xff\xd8 corrupt " * 8])
    bad = tmp_path / "corrupt.dcm"
    ds.save_as(bad)
    assert cli.main(["segment", str(bad), "--out", str(tmp_path / "o"), "--model", str(stand_in),
                     *SMALL]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"hdogreg: error: {bad}: compressed pixel data (JPEG-LS Lossless Image "
                          "Compression) are corrupt or not decodable (")
    assert "install" not in err and err.count("\n") == 1 and not err.rstrip().endswith(":")


def test_real_checkpoint_and_its_p_thr(inputs, tmp_path, capsys):
    import json

    from hdogreg.regression import DEFAULT_ENCODER, build_model, save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(DEFAULT_ENCODER, pretrained=False),
                           {"encoder": DEFAULT_ENCODER, "p_thr": 1.0})
    out = tmp_path / "out"
    args = ["segment", str(inputs["dcm"]), "--out", str(out), "--model", str(ckpt),
            "--window", "128", "--stride", "128", "--quiet", "--workers", "1"]
    # p_thr = 1 (from the checkpoint's settings) keeps nothing: the untrained network's map stays < 1.
    assert cli.main(args) == 0
    mask, table = _check_outputs(out, "case.dcm", inputs["shape"])
    assert len(table) == 0 and not mask.any()
    settings = json.loads(ckpt.with_suffix(".json").read_text())
    ckpt.with_suffix(".json").write_text(json.dumps({**settings, "p_thr": 2.0}))
    assert cli.main(args) == 2                     # a checkpoint's p_thr outside [0, 1] is refused
    err = capsys.readouterr().err
    assert err == (f"hdogreg: error: {ckpt.with_suffix('.json')}: setting 'p_thr' must be a number in "
                   "[0, 1], got 2.0; the options --p-thr, --o-thr and --dog-threshold override the "
                   "checkpoint's settings\n")
    ckpt.with_suffix(".json").write_text(json.dumps({**settings, "dog_threshold": "high"}))
    assert cli.main(args) == 2
    assert "setting 'dog_threshold' must be a finite number, got 'high'" in capsys.readouterr().err
    # an option overrides a bad setting
    ckpt.with_suffix(".json").write_text(json.dumps({**settings, "p_thr": 2.0}))
    assert cli.main([*args, "--p-thr", "1", "--force"]) == 0


def test_install_model_makes_the_default(inputs, tmp_path, monkeypatch):
    import json

    from hdogreg.regression import DEFAULT_ENCODER, build_model, load_checkpoint, save_checkpoint

    src = save_checkpoint(tmp_path / "run" / "best.pt", build_model(DEFAULT_ENCODER, pretrained=False),
                          {"encoder": DEFAULT_ENCODER, "epoch": 3})
    monkeypatch.setenv("HDOGREG_MODEL", str(tmp_path / "models" / "default.pt"))
    from hdogreg.store import default_model_path, install_model

    dest = install_model(src, default_model_path(), p_thr=0.25)
    assert dest == tmp_path / "models" / "default.pt" and dest.is_file()
    settings = json.loads(dest.with_suffix(".json").read_text())
    assert settings["p_thr"] == 0.25 and settings["epoch"] == 3
    _, loaded = load_checkpoint(dest)
    assert loaded["encoder"] == DEFAULT_ENCODER
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        install_model(tmp_path / "missing.pt", tmp_path / "x.pt")


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "hdogreg.cli", "segment", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--pixel-spacing" in proc.stdout


# ----------------------------------------------------------------------------- pixel spacing


@pytest.mark.parametrize("bad, message", [("70", "70 µm = 0.07 mm"), ("0.0007", "implausible"),
                                          ("nan", "finite"), ("inf", "finite"), ("0", "> 0")])
def test_implausible_pixel_spacing_option_is_a_usage_error(inputs, stand_in, tmp_path, capsys,
                                                           bad, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o"), "--model",
                  str(stand_in), "--pixel-spacing", bad, *SMALL])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--pixel-spacing" in err and message in err
    assert not (tmp_path / "o").exists()


def test_implausible_header_spacing_fails_that_image_only(inputs, stand_in, tmp_path, capsys,
                                                           make_dicom):
    import pydicom

    src = pydicom.dcmread(inputs["dcm"])
    raw, bits = src.pixel_array, int(src.BitsStored)
    um = make_dicom(tmp_path / "in_um.dcm", raw, bits=bits, PixelSpacing=["70", "70"])
    none = make_dicom(tmp_path / "nospacing.dcm", raw, bits=bits)
    out = tmp_path / "out"
    code = cli.main(["segment", str(um), str(inputs["dcm"]), str(none), "--out", str(out),
                     "--model", str(stand_in), *SMALL])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"hdogreg: error: {um}: PixelSpacing (DICOM header) = 70 mm per pixel "
                             "is implausible")
    assert "70 µm = 0.07 mm" in err[0] and err[0].endswith("pass --pixel-spacing MM to override")
    assert err[1].startswith(f"hdogreg: error: {none}: ") and "--pixel-spacing" in err[1]
    _check_outputs(out, "case.dcm", inputs["shape"])
    assert not list((out / "images").glob("in_um*")) and not list((out / "images").glob("nospacing*"))
    # The option overrides the header.
    assert cli.main(["segment", str(um), "--out", str(out), "--model", str(stand_in),
                     "--pixel-spacing", "0.07", *SMALL]) == 0
    _check_outputs(out, "in_um.dcm", raw.shape)


def test_coarser_dicom_is_reported_in_its_own_pixels(inputs, stand_in, tmp_path, make_dicom,
                                                     bright_spots):
    """The same breast at 0.14 mm (2 x 2 binned): outputs on its grid, CSV in its pixels."""
    from hdogreg.data import read_dicom
    from hdogreg.pipeline import SegmentParams, segment_mammogram

    image07, _ = read_dicom(inputs["dcm"])
    rows, cols = inputs["shape"]
    binned = image07.reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    raw = np.round(binned.astype(np.float64) * 4095).astype(np.uint16)
    dcm = make_dicom(tmp_path / "coarse.dcm", raw, bits=12,
                     ImagerPixelSpacing=["0.154", "0.154"],
                     EstimatedRadiographicMagnificationFactor="1.1")   # 0.154 / 1.1 = 0.14
    out = tmp_path / "out"
    assert cli.main(["segment", str(inputs["dcm"]), str(dcm), "--out", str(out), "--model",
                     str(stand_in), *SMALL]) == 0
    t07 = pd.read_csv(out / "images" / "case.dcm" / "mcs.csv")
    mask, t14 = _check_outputs(out, "coarse.dcm", raw.shape)
    assert len(t14) > 0
    np.testing.assert_allclose(t14["area_mm2"], t14["area_px"] * 0.14 ** 2, rtol=1e-5)
    # The CSV is the pipeline's table of the input at its spacing (the CLI's settings).
    # the stand-in checkpoint records no normalize: trained on the raw scale
    params = SegmentParams(window=64, stride=32, normalize="none")
    image, meta = read_dicom(dcm)
    assert meta["pixel_spacing"] == pytest.approx(0.14)
    expected = segment_mammogram(image, bright_spots, params, pixel_spacing=meta["pixel_spacing"],
                                 progress=False)
    np.testing.assert_array_equal(mask > 0, expected.mask)
    np.testing.assert_allclose(t14[["x", "y", "area_mm2"]], expected.table[["x", "y", "area_mm2"]],
                               rtol=1e-5)
    # Coordinates in the 0.14 mm grid: each MC is one of the 0.07 mm image, at (c - 0.5) / 2.
    half = (t07[["x", "y"]].to_numpy() - 0.5) / 2
    dist = np.linalg.norm(t14[["x", "y"]].to_numpy()[:, None] - half[None], axis=2).min(axis=1)
    assert np.all(dist <= 1.0), dist


# ----------------------------------------------------------------------------- cohorts


@pytest.fixture
def no_image_processed(monkeypatch):
    """Fail the test if any image reaches the segmentation."""
    import hdogreg.cohort.run

    def refuse(*args, **kwargs):
        raise AssertionError("an image was processed")

    monkeypatch.setattr(hdogreg.cohort.run, "segment_input", refuse)


def test_bad_out_and_inputs_fail_before_any_image(inputs, stand_in, tmp_path, capsys,
                                                  no_image_processed):
    import os

    afile = tmp_path / "out.txt"
    afile.write_text("x")
    (tmp_path / "empty").mkdir()
    cases = [(str(afile), [str(inputs["dcm"])], f"{afile}: output folder is a file"),
             (str(tmp_path / "o"), [str(inputs["dcm"]), str(tmp_path / "empty")],
              f"{tmp_path / 'empty'}: no DICOM, PNG or TIFF images"),
             (str(tmp_path / "o"), [str(tmp_path / "*.tiff")], "no files match")]
    if os.geteuid() != 0:     # root writes into read-only folders
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        cases.append((str(ro), [str(inputs["dcm"])], f"{ro}: output folder is not writable"))
    for out, sources, message in cases:
        code = cli.main(["segment", *sources, "--out", out, "--model", str(stand_in), *SMALL])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert afile.read_text() == "x"


def test_glob_input_resumes_and_force_redoes(inputs, stand_in, tmp_path, capsys):
    out = tmp_path / "out"
    pattern = str(inputs["dcm"].parent / "*.dcm")
    argv = ["segment", pattern, "--out", str(out), "--model", str(stand_in), *SMALL]
    assert cli.main(argv) == 0
    mask, _ = _check_outputs(out, "case.dcm", inputs["shape"])
    stamp = (out / "images" / "case.dcm" / "mask.png").stat().st_mtime_ns
    assert cli.main(argv) == 0
    assert pd.read_csv(out / "cohort.csv")["status"].tolist() == ["skipped"]
    assert (out / "images" / "case.dcm" / "mask.png").stat().st_mtime_ns == stamp
    assert cli.main([*argv, "--force"]) == 0
    assert pd.read_csv(out / "cohort.csv")["status"].tolist() == ["ok"]
    assert np.array_equal(_check_outputs(out, "case.dcm", inputs["shape"])[0], mask)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_exits_130_without_traceback(inputs, stand_in, tmp_path, capsys, monkeypatch,
                                               how):
    import os
    import signal

    import hdogreg.cohort.run

    def interrupted(*args, **kwargs):
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(hdogreg.cohort.run, "segment_input", interrupted)
    before = signal.getsignal(signal.SIGTERM)
    code = cli.main(["segment", str(inputs["dcm"]), "--out", str(tmp_path / "o"), "--model",
                     str(stand_in), *SMALL])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted" in err and "resume" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGTERM) is before
    assert pd.read_csv(tmp_path / "o" / "cohort.csv")["status"].tolist() == ["pending"]
    assert list((tmp_path / "o" / "images").iterdir()) == []


def test_scheduler_option_runs_on_an_existing_cluster(inputs, stand_in, tmp_path, capsys):
    import dask
    from distributed import LocalCluster

    argv = ["segment", str(inputs["dcm"]), "--model", str(stand_in), *SMALL]
    assert cli.main([*argv, "--out", str(tmp_path / "seq")]) == 0
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        assert cli.main([*argv, "--out", str(tmp_path / "dask"), "--scheduler",
                         cluster.scheduler_address]) == 0
    for f in ("mask.png", "mcs.csv", "seg.dcm"):
        assert (tmp_path / "dask" / "images" / "case.dcm" / f).read_bytes() == \
            (tmp_path / "seq" / "images" / "case.dcm" / f).read_bytes()
    capsys.readouterr()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = cli.main([*argv, "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "tcp://127.0.0.1:9: cannot connect" in err and "Traceback" not in err
    assert list((tmp_path / "x" / "images").iterdir()) == []
