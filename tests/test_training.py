"""Tests of hdogreg.training: Eq. 10, patches, augmentation, the training loop, checkpoints."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from hdogreg.proximity import proximity_map
from hdogreg.regression import load_checkpoint
from hdogreg.training import (
    Augment,
    PatchDataset,
    TrainConfig,
    data_hash,
    extract_patches,
    fine_tune,
    iou_per_patch,
    soft_dice_loss,
    train,
    train_or_load,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@dataclass
class Tiny:
    """Mammogram-like: noise plus bright Gaussian dots at the annotated pixels."""

    image: np.ndarray
    mask: np.ndarray
    file_id: str = "tiny"

    def mc_mask(self):
        return self.mask


def make_tiny(seed, shape=(96, 96), n_dots=4, file_id=None):
    rng = np.random.default_rng(seed)
    image = 0.2 + 0.02 * rng.standard_normal(shape)
    mask = np.zeros(shape, bool)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    for _ in range(n_dots):
        r, c = rng.integers(4, shape[0] - 4), rng.integers(4, shape[1] - 4)
        image += 0.5 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 1.5**2))
        mask[r, c] = True
    return Tiny(np.clip(image, 0, 1).astype(np.float32), mask, file_id or f"tiny{seed}")


TINY = dict(encoder="tu-efficientnet_lite0", pretrained=False, xi=6, patch=64, stride=48, crop=64,
            batch_size=4, epochs=2, steps_per_epoch=3, max_val_patches=4, num_threads=1, lr=1e-3,
            bn_recalibration_batches=2)


# --------------------------------------------------------------------------- Eq. 10


def test_soft_dice_hand_computed():
    p = torch.tensor([[[0.5, 1.0], [0.0, 0.25]]])
    t = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    # sum P*Phat = 0.5 + 0.5 = 1; sum P + Phat = 1.5 + 1.75 = 3.25
    assert float(soft_dice_loss(p, t, eps=1.0)) == pytest.approx(1 - (2 * 1 + 1) / (3.25 + 1))
    assert float(soft_dice_loss(p, t, eps=0.0)) == pytest.approx(1 - 2 / 3.25)
    assert float(soft_dice_loss(p, t, eps=10.0)) == pytest.approx(1 - 12 / 13.25)


def test_soft_dice_extremes():
    t = torch.zeros(2, 1, 8, 8)
    t[:, :, 2:5, 2:5] = 1
    assert float(soft_dice_loss(t.clone(), t)) == pytest.approx(0.0, abs=1e-7)
    disjoint = 1 - t
    expected = 1 - 1 / (t.sum() + disjoint.sum() + 1)
    assert float(soft_dice_loss(disjoint, t)) == pytest.approx(float(expected))
    assert float(soft_dice_loss(disjoint, t)) > 0.99
    # empty target and empty prediction: eps makes the loss 0, not 0/0
    z = torch.zeros(1, 1, 4, 4)
    assert float(soft_dice_loss(z, z)) == 0.0


def test_soft_dice_batch_vs_sample_reduction():
    p = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # batch: inter 1, total 3 -> 1 - 3/4; sample: [1 - 3/3, 1 - 1/2] -> 0.25
    assert float(soft_dice_loss(p, t)) == pytest.approx(0.25)
    assert float(soft_dice_loss(p, t, reduction="sample")) == pytest.approx(0.25)
    p2 = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert float(soft_dice_loss(p2, t)) == pytest.approx(1 - 3 / 5)
    assert float(soft_dice_loss(p2, t, reduction="sample")) == pytest.approx(((1 - 3 / 4) + (1 - 1 / 2)) / 2)
    with pytest.raises(ValueError, match="shapes differ"):
        soft_dice_loss(p, t[:1])
    with pytest.raises(ValueError, match="reduction"):
        soft_dice_loss(p, t, reduction="sum")


def test_soft_dice_gradient_flows():
    p = torch.full((1, 4), 0.5, requires_grad=True)
    soft_dice_loss(p, torch.tensor([[1.0, 1.0, 0.0, 0.0]])).backward()
    assert p.grad[0, 0] < 0 < p.grad[0, 3]


def test_iou_per_patch():
    t = np.zeros((3, 4, 4), np.float32)
    t[0, :2] = 0.5
    t[1, 0, 0] = 1
    p = np.zeros_like(t)
    p[0, :1] = 0.9   # 4 of 8 support pixels -> 0.5
    p[1, 3, 3] = 0.9  # disjoint -> 0
    iou = iou_per_patch(p, t, p_thr=0.5)
    np.testing.assert_allclose(iou, [0.5, 0.0, 1.0])  # empty vs empty -> 1
    np.testing.assert_allclose(iou_per_patch(torch.from_numpy(p), torch.from_numpy(t), 0.95), [0, 0, 1])


# --------------------------------------------------------------------------- patches


def test_extract_patches_grid_and_positive():
    img = np.random.default_rng(0).random((100, 150)).astype(np.float32)
    tgt = np.zeros_like(img)
    tgt[5, 5] = 1       # only in window (0, 0)
    tgt[90, 140] = 1    # only in the last window (36, 86)
    p = extract_patches(img, tgt, size=64, stride=48, only_positive=False)
    # rows 0, 36 (flush); cols 0, 48, 86 (flush)
    assert p.origin.tolist() == [[0, 0], [0, 48], [0, 86], [36, 0], [36, 48], [36, 86]]
    assert p.positive.tolist() == [True, False, False, False, False, True]
    np.testing.assert_array_equal(p.image[4], img[36:100, 48:112])
    q = extract_patches(img, tgt, size=64, stride=48)
    assert q.origin.tolist() == [[0, 0], [36, 86]]
    assert q.image.dtype == np.float32 and q.image.shape == (2, 64, 64)
    np.testing.assert_array_equal(q.target[1], tgt[36:100, 86:150])


def test_extract_patches_negatives_and_mask():
    img = np.zeros((100, 150), np.float32)
    tgt = np.zeros_like(img)
    tgt[5, 5] = 1
    p = extract_patches(img, tgt, size=64, stride=48, negative_fraction=2.0, rng=0)
    assert len(p) == 3 and p.positive.sum() == 1
    again = extract_patches(img, tgt, size=64, stride=48, negative_fraction=2.0, rng=0)
    np.testing.assert_array_equal(p.origin, again.origin)
    everything = extract_patches(img, tgt, size=64, stride=48, negative_fraction=100.0, rng=0)
    assert len(everything) == 6
    mask = np.zeros(img.shape, bool)
    mask[99, 149] = True
    m = extract_patches(img, tgt, size=64, stride=48, mask=mask)  # positivity from mask
    assert m.origin.tolist() == [[36, 86]]
    none = extract_patches(img, np.zeros_like(img), size=64, stride=48)
    assert none.image.shape == (0, 64, 64)


def test_extract_patches_small_image_is_padded():
    img = np.full((20, 40), 0.5, np.float32)
    tgt = np.zeros_like(img)
    tgt[3, 30] = 1
    p = extract_patches(img, tgt, size=64, stride=48, target_fill=7.0)
    assert p.origin.tolist() == [[0, 0]]
    assert p.image[0, :20, :40].min() == 0.5 and p.image[0, 20:].max() == 0
    assert p.target[0, 3, 30] == 1 and p.target[0, 30, 50] == 7.0


def test_extract_patches_validation():
    img = np.zeros((10, 10), np.float32)
    with pytest.raises(ValueError, match="stride must be"):
        extract_patches(img, img, size=8, stride=0)
    with pytest.raises(ValueError, match="target shape"):
        extract_patches(img, np.zeros((5, 5)), size=8)


# --------------------------------------------------------------------------- dataset and augmentation


def test_dataset_target_is_proximity_map():
    m = make_tiny(0, shape=(100, 120))
    ds = PatchDataset([m], xi=6, alpha=1.0, patch=64, stride=48, normalize="none")
    full = proximity_map(m.mask, xi=6, alpha=1.0)
    assert len(ds) >= 1
    for i in range(len(ds)):
        x, y = ds[i]
        r, c = ds.source.loc[i, ["row", "col"]]
        assert x.shape == (1, 64, 64) and x.dtype == torch.float32
        np.testing.assert_array_equal(x[0].numpy(), m.image[r:r + 64, c:c + 64])  # full bit depth
        np.testing.assert_allclose(y[0].numpy(), full[r:r + 64, c:c + 64], atol=1e-6)


def test_dataset_max_patches():
    images = [make_tiny(s, shape=(100, 120), n_dots=8) for s in range(3)]
    ds = PatchDataset(images, xi=6, alpha=1.0, patch=64, stride=48)
    capped = PatchDataset(images, xi=6, alpha=1.0, patch=64, stride=48, max_patches=3, seed=1)
    assert len(ds) > 3 and len(capped) == 3


@pytest.mark.parametrize("seed", range(6))
def test_augmentation_keeps_image_and_target_aligned(seed):
    shape = (64, 64)
    rows, cols = np.mgrid[:64, :64]
    r0, c0 = 20 + 4 * seed, 40 - 3 * seed
    image = 0.1 + 0.8 * np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * 2.0**2))
    mask = np.zeros(shape, bool)
    mask[r0, c0] = True
    dist = torch.from_numpy(np.minimum(np.hypot(rows - r0, cols - c0), 30).astype(np.float32))[None]
    aug = Augment(48, xi=6, alpha=1.0, scale=(0.7, 1.3), translate=0.1, photometric_p=1.0)
    torch.manual_seed(seed)
    x, y = aug(torch.from_numpy(image.astype(np.float32))[None], dist, 30.0)
    assert x.shape == (1, 48, 48) and y.shape == (1, 48, 48)
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(y.max()) <= 1
    if float(y.max()) > 0.8:  # the dot is inside the crop: the target peaks on it
        pi = np.unravel_index(int(torch.argmax(x)), (48, 48))
        ti = np.unravel_index(int(torch.argmax(y)), (48, 48))
        assert np.hypot(pi[0] - ti[0], pi[1] - ti[1]) <= 1.5
        # xi stays in output pixels: support radius ~ xi whatever the magnification
        radius = np.sqrt((y[0] > 0).sum().item() / np.pi)
        assert 4.5 < radius < 7


def test_augmentation_is_seeded():
    m = make_tiny(3)
    aug = Augment(32, xi=6, alpha=1.0)
    ds = PatchDataset([m], 6, 1.0, 64, 48, augment=aug)
    torch.manual_seed(5)
    a = ds[0]
    torch.manual_seed(5)
    b = ds[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (1, 32, 32)


# --------------------------------------------------------------------------- config


def test_config_paper_and_validation():
    paper = TrainConfig.paper()
    assert (paper.encoder, paper.epochs, paper.batch_size, paper.patch, paper.stride, paper.crop) == (
        "inceptionv4", 40, 8, 512, 480, 320)
    assert (paper.lr, paper.betas, paper.eps, paper.loss_eps, paper.xi, paper.alpha) == (
        1e-4, (0.9, 0.999), 1e-8, 1.0, 10.0, 1.0)
    assert paper.pretrained is False and paper.steps_per_epoch is None
    assert paper.decoder_channels == (256, 128) and TrainConfig().decoder_channels == (128, 64)
    with pytest.raises(ValueError, match="decoder_channels"):
        TrainConfig(decoder_channels=(128, 48))
    assert TrainConfig.paper(weights_path="w.pth").pretrained
    with pytest.raises(ValueError, match="crop must be a positive multiple of 32"):
        TrainConfig(crop=100)
    with pytest.raises(ValueError, match="crop must be <= patch"):
        TrainConfig(patch=64, crop=96)
    with pytest.raises(ValueError, match="encoder"):
        TrainConfig(encoder="nope")
    assert json.loads(json.dumps(TrainConfig().to_dict()))["betas"] == [0.9, 0.999]


# --------------------------------------------------------------------------- training loop


@pytest.fixture(scope="module")
def tiny_data():
    train_images = [make_tiny(s, shape=(96, 112), n_dots=5) for s in range(3)]
    val_images = [make_tiny(10 + s, shape=(96, 112), n_dots=5) for s in range(2)]
    return train_images, val_images


@pytest.fixture(scope="module")
def run_a(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run_a")
    return train(TrainConfig(**TINY), *tiny_data, out, progress=False)


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_tiny_run_lowers_the_loss(tiny_data, tmp_path):
    cfg = TrainConfig(**{**TINY, "epochs": 3, "steps_per_epoch": 4, "augment": False, "patch": 64,
                         "crop": 64})
    result = train(cfg, tiny_data[0], tiny_data[0], tmp_path, progress=False)
    h = result.history
    assert list(h.epoch) == [1, 2, 3]
    assert h.train_loss.iloc[-1] < h.train_loss.iloc[0]
    assert h.val_loss.iloc[-1] < h.val_loss.iloc[0]


def test_run_outputs_and_checkpoint_settings(run_a, tiny_data):
    out = run_a.out_dir
    assert {p.name for p in out.iterdir()} >= {"best.pt", "best.json", "last.pt", "last.json", "history.csv"}
    h = run_a.history
    assert list(h.columns[:4]) == ["epoch", "train_loss", "val_loss", "val_iou"]
    assert h.val_iou.between(0, 1).all()
    best = json.loads((out / "best.json").read_text())
    assert best["epoch"] == int(h.epoch[h.val_iou.idxmax()])
    for key, value in TrainConfig(**TINY).to_dict().items():
        assert best[key] == value
    assert best["train_data_hash"] == data_hash(tiny_data[0])
    assert best["metrics"]["val_iou"] == pytest.approx(h.val_iou.max())
    model, settings = run_a.load()
    assert settings["encoder"] == "tu-efficientnet_lite0" and not model.training


def test_same_seed_gives_identical_weights(run_a, tiny_data, tmp_path):
    again = train(TrainConfig(**TINY), *tiny_data, tmp_path, progress=False)
    _assert_same_state(_state(run_a.out_dir / "last.pt"), _state(again.out_dir / "last.pt"))
    other = train(TrainConfig(**{**TINY, "seed": 1, "epochs": 1}), *tiny_data, tmp_path / "s1",
                  progress=False)
    a, b = _state(run_a.out_dir / "last.pt"), _state(other.out_dir / "last.pt")
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_resume_equals_uninterrupted_run(run_a, tiny_data, tmp_path):
    first = train(TrainConfig(**{**TINY, "epochs": 1}), *tiny_data, tmp_path, progress=False)
    assert len(first.history) == 1
    resumed = train(TrainConfig(**TINY), *tiny_data, tmp_path, progress=False)
    assert list(resumed.history.epoch) == [1, 2]
    _assert_same_state(_state(run_a.out_dir / "last.pt"), _state(tmp_path / "last.pt"))
    with pytest.raises(ValueError, match="other settings"):
        train(TrainConfig(**{**TINY, "xi": 8}), *tiny_data, tmp_path, progress=False)


def test_a_run_saved_under_the_old_setting_name_resumes(run_a, tiny_data, tmp_path):
    """TrainConfig.val_p_thr was saved as p_thr (the name the operating point now has alone)."""
    first = train(TrainConfig(**{**TINY, "epochs": 1}), *tiny_data, tmp_path, progress=False)
    assert first.settings["val_p_thr"] == TrainConfig().val_p_thr and "p_thr" not in first.settings
    state = json.loads((tmp_path / "last.json").read_text())
    state["settings"]["p_thr"] = state["settings"].pop("val_p_thr")
    (tmp_path / "last.json").write_text(json.dumps(state))
    resumed = train(TrainConfig(**TINY), *tiny_data, tmp_path, progress=False)
    assert list(resumed.history.epoch) == [1, 2]
    _assert_same_state(_state(run_a.out_dir / "last.pt"), _state(tmp_path / "last.pt"))
    state["settings"]["p_thr"] = 0.5                    # but another value is another run
    (tmp_path / "last.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="other settings"):
        train(TrainConfig(**{**TINY, "epochs": 3}), *tiny_data, tmp_path, progress=False)


def test_recalibrate_checkpoint_changes_only_batchnorm_statistics(run_a, tiny_data, tmp_path):
    from hdogreg.training import recalibrate_checkpoint

    cfg = TrainConfig(**TINY)
    dest, before, after = recalibrate_checkpoint(run_a.best_checkpoint, cfg, *tiny_data, 3,
                                                 tmp_path / "bn.pt")
    # the checkpoint as saved scores what the run recorded for it
    assert before == pytest.approx(run_a.settings["metrics"]["val_iou"], abs=1e-9)
    a = torch.load(run_a.best_checkpoint, weights_only=True)
    b = torch.load(dest, weights_only=True)
    stats = {k for k in a if k.endswith(("running_mean", "running_var"))}
    assert stats and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a if k not in stats and "num_batches" not in k)
    assert any(not torch.equal(a[k], b[k]) for k in stats)
    meta = json.loads(dest.with_suffix(".json").read_text())
    assert meta["bn_recalibration"] == {"batches": 3, "val_iou_before": before, "val_iou_after": after}
    assert meta["epoch"] == run_a.settings["epoch"]
    again = recalibrate_checkpoint(run_a.best_checkpoint, cfg, *tiny_data, 3, tmp_path / "bn2.pt")
    _assert_same_state(b, torch.load(again[0], weights_only=True))     # deterministic
    with pytest.raises(ValueError, match="n_batches must be >= 1"):
        recalibrate_checkpoint(run_a.best_checkpoint, cfg, *tiny_data, 0, tmp_path / "bn3.pt")


def test_train_or_load_reuses_finished_run(tiny_data, tmp_path):
    cfg = TrainConfig(**{**TINY, "epochs": 1, "steps_per_epoch": 1})
    first = train_or_load(cfg, *tiny_data, cache_dir=tmp_path, progress=False)
    stamp = (first.out_dir / "last.pt").stat().st_mtime_ns
    second = train_or_load(cfg, *tiny_data, cache_dir=tmp_path, progress=False)
    assert second.best_checkpoint == first.best_checkpoint
    assert (first.out_dir / "last.pt").stat().st_mtime_ns == stamp
    assert second.history.equals(first.history)
    changed = [make_tiny(s, shape=(96, 112), n_dots=5) for s in range(3)]
    changed[0].image[0, 0] += 0.01  # other data -> other run
    third = train_or_load(cfg, changed, tiny_data[1], cache_dir=tmp_path, progress=False)
    assert third.out_dir != first.out_dir


def test_fine_tune_starts_from_checkpoint(run_a, tiny_data, tmp_path):
    local = [make_tiny(20 + s, shape=(80, 80), n_dots=3, file_id=f"local{s}") for s in range(2)]
    cfg = TrainConfig(**{**TINY, "epochs": 1, "steps_per_epoch": 1, "encoder": "resnet18"})
    result = fine_tune(run_a.best_checkpoint, cfg, list(tiny_data[0]) + local, tiny_data[1], tmp_path,
                       progress=False)
    s = result.settings
    assert s["encoder"] == "tu-efficientnet_lite0"  # model settings come from the checkpoint
    assert s["init_checkpoint"] == f"{run_a.best_checkpoint.parent.name}/best.pt"   # no absolute path
    assert str(tmp_path) not in result.best_checkpoint.with_suffix(".json").read_text()
    assert s["init_data_hash"] == run_a.settings["data_hash"]
    model, _ = load_checkpoint(result.best_checkpoint)
    base, _ = run_a.load()
    a, b = dict(base.named_parameters()), dict(model.named_parameters())
    diff = max(float((a[k] - b[k]).detach().abs().max()) for k in a)
    assert 0 < diff < 0.05  # trained further, from the checkpoint (one Adam step moves <= ~lr)


# --------------------------------------------------------------------------- standardisation


def test_dataset_standardises_whole_images_before_cutting_patches(tiny_data):
    from hdogreg.standardize import standardize

    images = tiny_data[0][:1]
    raw = PatchDataset(images, 6, 1, 64, 48, normalize="none")
    std = PatchDataset(images, 6, 1, 64, 48)          # the default standardises
    whole = standardize(images[0].image)
    assert len(std) == len(raw) > 0
    for k, (_, r, c) in std.source.iterrows():
        np.testing.assert_array_equal(std.image[k], whole[r:r + 64, c:c + 64])
    assert not np.array_equal(std.image, raw.image)
    with pytest.raises(ValueError, match="normalize must be one of"):
        PatchDataset(images, 6, 1, 64, 48, normalize="z")


def test_normalize_option_is_validated_recorded_and_keeps_old_hashes(tiny_data, tmp_path):
    import hashlib

    from hdogreg.training import config_hash

    with pytest.raises(ValueError, match="normalize must be one of .*'z'"):
        TrainConfig(**TINY, normalize="z")
    assert TrainConfig(**TINY).normalize == "noise"      # the default
    cfg = TrainConfig(**TINY, normalize="none")
    assert cfg.to_dict()["normalize"] == "none"
    # normalize="none" (and lr_schedule="constant") leave the cache key of runs made before
    # the options existed unchanged; val_p_thr is hashed under its old name p_thr.
    old = {("p_thr" if k == "val_p_thr" else k): v for k, v in cfg.to_dict().items()
           if k not in ("normalize", "lr_schedule")}
    text = json.dumps({"config": old, "data": ["h"]}, sort_keys=True)
    assert config_hash(cfg, "h") == hashlib.sha256(text.encode()).hexdigest()
    assert config_hash(cfg.replace(normalize="noise"), "h") != config_hash(cfg, "h")
    run = train(cfg.replace(normalize="noise", epochs=1, steps_per_epoch=1), *tiny_data, tmp_path,
                progress=False)
    assert json.loads((tmp_path / "best.json").read_text())["normalize"] == "noise"
    assert run.settings["normalize"] == "noise"


# --------------------------------------------------------------------------- learning-rate schedule


def test_learning_rate_schedules():
    from hdogreg.training import learning_rate

    const = TrainConfig(**TINY)
    assert const.lr_schedule == "constant"             # the paper's, the default
    assert {learning_rate(const, s, 10) for s in range(10)} == {1e-3}
    cos = const.replace(lr_schedule="cosine")
    rates = np.array([learning_rate(cos, s, 100) for s in range(100)])
    assert rates[0] == pytest.approx(1e-3)
    assert rates[50] == pytest.approx(0.5e-3)
    assert rates[-1] == pytest.approx(1e-3 * (1 + np.cos(np.pi * 0.99)) / 2) and rates[-1] < 1e-6
    assert (np.diff(rates) < 0).all()
    with pytest.raises(ValueError, match="step must be in"):
        learning_rate(cos, 100, 100)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(**TINY, lr_schedule="step")


def test_cosine_run_anneals_and_cannot_be_extended(tiny_data, tmp_path):
    from hdogreg.training import config_hash, learning_rate

    cfg = TrainConfig(**{**TINY, "lr_schedule": "cosine"})
    run = train(cfg, *tiny_data, tmp_path, progress=False)
    total = cfg.epochs * cfg.steps_per_epoch
    # the rate of each epoch's last step, read back from the optimiser
    expected = [learning_rate(cfg, (e + 1) * cfg.steps_per_epoch - 1, total) for e in range(cfg.epochs)]
    np.testing.assert_allclose(run.history.lr, expected)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(expected[-1])
    assert json.loads((tmp_path / "best.json").read_text())["lr_schedule"] == "cosine"
    # under a cosine schedule every step's rate depends on the number of epochs: no extension
    with pytest.raises(ValueError, match="other settings"):
        train(cfg.replace(epochs=3), *tiny_data, tmp_path, progress=False)
    # a constant-rate run differs, and keeps the cache key it had before the option existed
    assert config_hash(cfg, "h") != config_hash(cfg.replace(lr_schedule="constant"), "h")
