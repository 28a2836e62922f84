"""Tests of the comparison methods (hdogreg.baselines) on small synthetic patches."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from hdogreg.baselines import wang_yang as W
from hdogreg.baselines.ciecholewski import ciecholewski_segment, extended_maxima
from hdogreg.metrics import match_detections


def _dots(shape, centres, amplitude=0.05, sigma=1.5, background=0.3, noise=0.0, seed=0):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    img = np.full(shape, background, np.float64)
    for r, c in centres:
        img += amplitude * np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * sigma**2))
    if noise:
        img += np.random.default_rng(seed).normal(0, noise, shape)
    return np.clip(img, 0, 1).astype(np.float32)


def _point_ref(shape, centres):
    ref = np.zeros(shape, np.int32)
    for i, (r, c) in enumerate(centres, 1):
        ref[r, c] = i
    return ref


@dataclass
class _Item:
    image: np.ndarray
    ref: np.ndarray

    def mc_labels(self):
        return self.ref


# ----------------------------------------------------------------------------- Ciecholewski


@pytest.mark.parametrize("noise", [0.0, 0.002])
@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_ciecholewski_finds_bright_mc(noise, sigma):
    img = _dots((64, 64), [(32, 30)], sigma=sigma, noise=noise)
    lab = ciecholewski_segment(img)
    assert lab.dtype == np.int32
    assert lab.max() == 1
    assert lab[32, 30] == 1
    area = (lab > 0).sum()
    assert 4 <= area <= 60  # a blob-sized object, not the background


def test_ciecholewski_ignores_flat_images():
    assert ciecholewski_segment(np.full((48, 48), 0.3, np.float32)).max() == 0
    flat_noise = _dots((48, 48), [], noise=0.002)
    assert ciecholewski_segment(flat_noise).max() == 0


def test_ciecholewski_separates_two_mcs_and_respects_breast_mask():
    img = _dots((64, 64), [(20, 20), (40, 44)], sigma=1.5)
    lab = ciecholewski_segment(img)
    assert lab.max() == 2 and lab[20, 20] != lab[40, 44]
    mask = np.zeros(img.shape, bool)
    mask[:, :32] = True
    lab = ciecholewski_segment(img, breast_mask=mask)
    assert lab.max() == 1 and lab[20, 20] == 1 and not lab[:, 32:].any()


def test_ciecholewski_drops_large_objects_and_validates():
    img = _dots((64, 64), [(32, 32)], sigma=2.0)
    assert ciecholewski_segment(img, max_area=3).max() == 0
    with pytest.raises(ValueError, match="h must be > 0, got 0"):
        ciecholewski_segment(img, h=0)
    with pytest.raises(ValueError, match="breast_mask shape"):
        ciecholewski_segment(img, breast_mask=np.ones((3, 3), bool))


def test_extended_maxima_plateau():
    f = np.zeros((9, 9))
    f[4, 4] = 1.0
    f[3:6, 3:6] += 0.5
    f[1, 1] = 0.1  # dynamic 0.1 < h: not a maximum; the 3x3 plateau is within h of the top
    em = extended_maxima(f, 1.2)
    assert em[4, 4] and em[3:6, 3:6].sum() == 9 and not em[1, 1]
    assert not extended_maxima(np.full((5, 5), 0.3), 0.1).any()


# ----------------------------------------------------------------------------- Wang & Yang


def test_dog_candidates_bright_mc_and_flat():
    img = _dots((64, 64), [(32, 30)], noise=0.002)
    blobs = W.dog_candidates(img)
    assert blobs.shape[1] == 3
    d = np.hypot(blobs[:, 0] - 32, blobs[:, 1] - 30)
    assert d.min() <= 1
    assert W.dog_candidates(np.full((48, 48), 0.3, np.float32)).shape == (0, 3)


def test_candidate_labels_nearest_centre_keeps_every_candidate():
    blobs = np.array([[10, 10, 2.0], [10, 13, 2.0], [0, 0, 1.0]])
    lab = W.candidate_labels((20, 20), blobs)
    assert set(np.unique(lab)) == {0, 1, 2, 3}
    assert lab[10, 10] == 1 and lab[10, 13] == 2 and lab[0, 0] == 3
    assert lab[10, 11] == 1 and lab[10, 12] == 2  # split at the midpoint


def test_preprocess_and_patches():
    img = _dots((40, 50), [(20, 25)], noise=0.002)
    pre = W.preprocess(img)
    assert pre.dtype == np.float32 and pre.shape == img.shape
    assert abs(pre.mean()) < 1e-4 and abs(pre.std() - 1) < 1e-3
    p = W.extract_candidate_patches(pre, [[20, 25], [0, 0]], size=15)
    assert p.shape == (2, 1, 15, 15)
    np.testing.assert_array_equal(p[0, 0], pre[13:28, 18:33])
    assert p[0, 0, 7, 7] == pre.max()  # the MC is at the patch centre


def test_context_net_shapes():
    net = W.ContextNet(n_filters=4)
    out = net(torch.zeros(3, 1, 95, 95))
    assert out.shape == (3, 2)
    small = W.ContextNet(n_filters=4, context_size=31, local_size=9)
    assert small(torch.zeros(2, 1, 31, 31)).shape == (2, 2)
    with pytest.raises(ValueError, match="expected input of shape"):
        small(torch.zeros(2, 1, 33, 33))
    with pytest.raises(ValueError, match="odd"):
        W.ContextNet(context_size=32)


def _stub_net():
    net = W.ContextNet(n_filters=2, context_size=31, local_size=9)
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    return net.eval()


def test_wang_yang_detect_bright_mc_and_flat():
    img = _dots((64, 64), [(32, 30)], noise=0.002)
    labels, scores = W.wang_yang_detect(_stub_net(), img)
    assert labels.max() == scores.size >= 1
    np.testing.assert_allclose(scores, 0.5)  # zero network: undecided
    m = match_detections(labels, _point_ref(img.shape, [(32, 30)]))
    assert m.n_tp == 1
    labels, scores = W.wang_yang_detect(_stub_net(), np.full((48, 48), 0.3, np.float32))
    assert labels.max() == 0 and scores.shape == (0,)


def test_train_wang_yang_tiny_run_lowers_loss(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for i in range(3):
        centres = [tuple(rng.integers(8, 56, 2)) for _ in range(4)]
        img = _dots((64, 64), centres, amplitude=0.06, noise=0.004, seed=i)
        # negatives: broad bright "tissue" blobs away from the MCs
        rr, cc = np.mgrid[:64, :64]
        for r, c in rng.integers(4, 60, (12, 2)):
            if min(np.hypot(r - a, c - b) for a, b in centres) > 10:
                img += (0.05 * np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * 3.5**2))).astype(np.float32)
        items.append(_Item(img, _point_ref(img.shape, centres)))
    kw = dict(n_filters=4, context_size=31, local_size=9, epochs=100, batch_size=16, lr=3e-3,
              neg_per_pos=2, max_steps=60, seed=0, num_threads=1, progress=False, normalize="none")
    model, hist = W.train_wang_yang(items, **kw)
    assert model.normalize == "none"
    assert hist["n_positive"] > 0 and hist["steps"] == 60
    loss = np.array(hist["loss"])
    assert loss[-10:].mean() < loss[:10].mean()
    # the same seed gives the same run
    _, hist2 = W.train_wang_yang(items, **kw)
    np.testing.assert_allclose(hist2["loss"], hist["loss"], rtol=1e-5)
    # the trained model ranks the true MC candidates above the others on a training image
    labels, scores = W.wang_yang_detect(model, items[0].image)
    m = match_detections(labels, items[0].ref)
    hit = np.isin(np.arange(1, labels.max() + 1), m.pairs[:, 0])
    assert hit.any() and scores[hit].mean() > scores[~hit].mean()
    # save / load round trip
    path = W.save_context_net(tmp_path / "wy.pt", model)
    loaded = W.load_context_net(path)
    assert loaded.normalize == "none"
    _, scores2 = W.wang_yang_detect(loaded, items[0].image)
    np.testing.assert_allclose(scores2, scores, rtol=1e-5)


def test_wang_yang_split_uses_the_networks_standardisation(tmp_path):
    from hdogreg.evaluation import wang_yang_split

    net = _stub_net()
    net.normalize = "noise"
    assert wang_yang_split(net, [], progress=False) == []
    with pytest.raises(ValueError, match="trained with normalize='noise', got normalize='none'"):
        wang_yang_split(net, [], normalize="none", progress=False)
    # a file written before normalize was recorded loads as the raw scale
    path = W.save_context_net(tmp_path / "old.pt", net)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["normalize"] == "noise"
    del meta["normalize"]
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert W.load_context_net(path).normalize == "none"


# ----------------------------------------------------------------------------- local contrast


def test_local_contrast_is_peak_minus_background_median():
    from hdogreg.baselines.local_contrast import local_contrast

    img = np.full((31, 31), 0.2)
    img[15, 15] = 0.9
    img[14, 15] = 0.5
    img[:, :10] = 0.6                      # a bright band left of the centre, outside its 15x15 window
    c = local_contrast(img, [15, 15, 0], [15, 25, 30])
    assert c[0] == pytest.approx(0.9 - 0.2)   # the 15x15 window (cols 8..22) holds 2 columns of band
    assert c[1] == pytest.approx(0.0)
    assert c[2] == pytest.approx(0.0)          # corner: the window is clipped (edge pixels repeated)
    # 2 of 15 columns at 0.6 do not move the median: a robust background
    assert local_contrast(img, [15], [16], background_size=15)[0] == pytest.approx(0.9 - 0.2)
    with pytest.raises(ValueError, match="odd positive"):
        local_contrast(img, [1], [1], peak_size=2)
    with pytest.raises(ValueError, match="outside the image"):
        local_contrast(img, [31], [0])


def test_local_contrast_detect_ranks_the_brighter_dot_first():
    from hdogreg.baselines.local_contrast import local_contrast_detect

    centres = [(20, 20), (20, 60), (60, 40)]
    img = _dots((80, 80), centres[:1], amplitude=0.08, noise=0.001)
    img += _dots((80, 80), centres[1:2], amplitude=0.03, background=0.0)
    img += _dots((80, 80), centres[2:], amplitude=0.015, background=0.0)
    labels, scores = local_contrast_detect(img, dog_threshold=0.002)
    assert scores.size == labels.max() >= 3
    at = [int(labels[r, c]) for r, c in centres]
    assert all(at) and scores[at[0] - 1] > scores[at[1] - 1] > scores[at[2] - 1]
    assert np.argmax(scores) == at[0] - 1
    # the ranking is linear in the intensity scale: the same order on 4 * image
    labels4, scores4 = local_contrast_detect(4 * img, dog_threshold=0.008)
    np.testing.assert_array_equal(labels4, labels)
    np.testing.assert_allclose(scores4, 4 * scores, rtol=1e-5)
    mask = np.zeros(img.shape, bool)
    mask[:40] = True
    labels_m, _ = local_contrast_detect(img, breast_mask=mask, dog_threshold=0.002)
    assert labels_m[60, 40] == 0 and labels_m[20, 20] > 0
