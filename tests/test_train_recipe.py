"""The shipped model's recipe (hdogreg.train): operating point on the validation pool."""

import json

import numpy as np
import pytest

from hdogreg import cli, train
from hdogreg.pipeline import SegmentParams


def _row(t, tpr, fp_end):
    return {"dog_threshold": t, "tpr_at_0.4": tpr, "fp_end": fp_end}


@pytest.mark.parametrize("rows, chosen", [
    # the paper's T_DoG stops at 0.41 FP/cm2: not enough reach; best qualifying TPR wins
    ([_row(0.006, 0.75, 0.41), _row(0.0045, 0.77, 9.0), _row(0.0035, 0.78, 38.0)], 0.0035),
    # ties go to the larger threshold (fewer candidates)
    ([_row(0.006, 0.75, 2.0), _row(0.0045, 0.75, 9.0)], 0.006),
    # nothing reaches 2 x 0.4: the longest curve (smallest threshold)
    ([_row(0.006, 0.75, 0.3), _row(0.0045, 0.70, 0.7)], 0.0045),
])
def test_choose_dog_threshold(rows, chosen):
    assert train.choose_dog_threshold(rows[::-1], 0.4, 2.0)["dog_threshold"] == chosen


def test_from_checkpoint_uses_the_validated_point_and_overrides():
    settings = {"normalize": "noise", "dog_threshold": 0.0035, "p_thr": 1e-4, "o_thr": 0.25}
    p = SegmentParams.from_checkpoint(settings)
    assert (p.normalize, p.dog_threshold, p.p_thr, p.o_thr) == ("noise", 0.0035, 1e-4, 0.25)
    q = SegmentParams.from_checkpoint(settings, dog_threshold=0.006, p_thr=None)
    assert (q.dog_threshold, q.p_thr) == (0.006, 1e-4)
    old = SegmentParams.from_checkpoint({"p_thr": 0.1})   # a checkpoint before the option
    assert (old.normalize, old.dog_threshold) == ("none", SegmentParams().dog_threshold)
    with pytest.raises(ValueError, match="dog_threshold"):
        SegmentParams.from_checkpoint(settings, dog_threshold=float("nan"))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("weights")
    val = train.train_recipe("smoke", out, work=out / "work", jobs=1, progress=False,
                             command="smoke", log=lambda line: None)
    return out, val


def test_recipe_records_the_chosen_operating_point(smoke_run):
    out, val = smoke_run
    settings = json.loads((out / "default.json").read_text())
    rows = settings["validation"]["calibration"]
    assert [r["dog_threshold"] for r in rows] == sorted(train.DOG_THRESHOLDS, reverse=True)
    # fewer candidates at a larger threshold (the same maps, a stricter DoG)
    counts = [r["n_candidates"] for r in rows]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    chosen = train.choose_dog_threshold(rows)
    assert settings["dog_threshold"] == chosen["dog_threshold"] == val["dog_threshold"]
    assert settings["p_thr"] == chosen["p_thr"]
    p = SegmentParams.from_checkpoint(settings)
    assert (p.dog_threshold, p.p_thr, p.normalize) == (chosen["dog_threshold"], chosen["p_thr"],
                                                       settings["normalize"])
    assert "validation pool, T_DoG" in (out / "default-train.log").read_text()


def test_recipe_exports_the_recalibrated_weights_and_keeps_both_thresholds(smoke_run):
    from hdogreg.training import TrainConfig

    out, val = smoke_run
    settings = json.loads((out / "default.json").read_text())
    n = train.RECIPES["smoke"]["export_bn_batches"]
    assert settings["installed_from"] == f"work/best-bn{n}.pt"
    assert settings["bn_recalibration"]["batches"] == n
    assert val["val_iou_per_patch"] == settings["bn_recalibration"]["val_iou_after"]
    # the operating point and the training's IoU threshold no longer share a name
    assert settings["val_p_thr"] == TrainConfig().val_p_thr != settings["p_thr"] == val["p_thr"]
    assert "BatchNorm statistics of epoch" in (out / "default-train.log").read_text()


def test_export_of_a_checkpoint_saved_before_the_rename_keeps_its_training_threshold(smoke_run, tmp_path):
    import shutil

    out, _ = smoke_run
    legacy = tmp_path / "legacy.pt"
    shutil.copy(out / "work" / "best.pt", legacy)
    meta = json.loads((out / "work" / "best.json").read_text())
    meta["p_thr"] = meta.pop("val_p_thr")                    # as checkpoints were saved before
    legacy.with_suffix(".json").write_text(json.dumps(meta))
    dest = train.export_fp16(legacy, tmp_path / "x.pt", p_thr=1e-4)
    exported = json.loads(dest.with_suffix(".json").read_text())
    assert (exported["p_thr"], exported["val_p_thr"]) == (1e-4, meta["p_thr"])


def test_recalibrate_keeps_weights_and_reproduces_the_point(smoke_run):
    out, val = smoke_run
    weights = (out / "default.pt").read_bytes()
    log_before = (out / "default-train.log").read_text()
    again = train.recalibrate("smoke", out, jobs=1, progress=False, command="recal",
                              log=lambda line: None)
    assert (out / "default.pt").read_bytes() == weights
    assert again["dog_threshold"] == val["dog_threshold"]
    assert np.isclose(again["p_thr"], val["p_thr"])
    settings = json.loads((out / "default.json").read_text())
    assert settings["recalibration_command"] == "recal"
    log = (out / "default-train.log").read_text()
    assert log.startswith(log_before) and "recalibration: recal" in log


@pytest.fixture
def stand_in_settings(monkeypatch, tmp_path, bright_spots):
    def use(settings):
        ckpt = tmp_path / "stand_in.pt"
        ckpt.write_bytes(b"")
        monkeypatch.setattr(cli, "_load_model", lambda path: (bright_spots, dict(settings)))
        return ckpt
    return use


def test_cli_uses_the_checkpoint_dog_threshold_unless_told(stand_in_settings, tmp_path):
    from hdogreg.data.synth import synth_mammogram, write_dicom

    synth = synth_mammogram(0, shape=(320, 256), count_model="dense")
    dcm = write_dicom(tmp_path / "case.dcm", synth.raw, bits=synth.bits, pixel_spacing=0.07,
                      patient_id="p0", laterality="L", view="CC")
    ckpt = stand_in_settings({"encoder": "stand-in", "dog_threshold": 50.0, "o_thr": 0.2})

    def run(out, *extra):
        assert cli.main(["segment", str(dcm), "--out", str(out), "--model", str(ckpt),
                         "--window", "128", "--stride", "128", "--quiet", "--workers", "1",
                         *extra]) == 0
        record = json.loads((out / "images" / "case.dcm" / "outputs.json").read_text())
        return record["settings"]["params"], record

    params, record = run(tmp_path / "a")
    assert params["dog_threshold"] == 50.0 and params["o_thr"] == 0.2
    assert record["row"]["n_mcs"] == 0          # no DoG response reaches 50
    params, record = run(tmp_path / "b", "--dog-threshold", "0.006", "--o-thr", "0.3")
    assert params["dog_threshold"] == 0.006 and params["o_thr"] == 0.3
    assert record["row"]["n_mcs"] > 0
