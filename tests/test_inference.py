import numpy as np
import pytest
import torch

from hdogreg import inference
from hdogreg.inference import blend_weights, predict_proximity, window_starts


class BorderArtefact(torch.nn.Module):
    """Stand-in network that is correct in a window's interior but wrong near its border:
    a 5x5 box blur with zero padding (the output darkens within 2 px of each window edge)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 5, padding=2, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1 / 25)

    def forward(self, x):
        return self.conv(x)


class CountCalls(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.windows = 0
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        self.windows += x.shape[0]
        return x * self.scale


def test_window_starts_cover_axis_regularly():
    for length in (1, 63, 64, 65, 100, 129, 500):
        starts, padded = window_starts(length, 64, 32)
        assert starts[0] == 0 and padded == starts[-1] + 64 >= length
        assert padded - 32 < max(length, 64)      # no more windows than needed
        assert np.all(np.diff(starts) == 32)


def test_blend_weights_shape_and_floor():
    w = blend_weights(64)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert w.min() == pytest.approx(inference.WEIGHT_FLOOR ** 2) and w.max() <= 1
    assert w[32, 0] == pytest.approx(inference.WEIGHT_FLOOR, rel=0.01)
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_allclose(w, w[::-1, ::-1])


def _max_step(a):
    return max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max())


@pytest.mark.parametrize("stride, tol", [(32, 2e-3), (48, 4e-3)])
def test_no_seam_on_constant_map(stride, tol):
    image = np.full((150, 200), 0.6, np.float32)
    pmap = predict_proximity(BorderArtefact(), image, window=64, stride=stride, progress=False)
    # Away from the image border (where the zero padding is real), the blended map is the
    # constant: the wrong window borders are outweighed by the neighbouring window centres.
    inner = pmap[3:-3, 3:-3]
    np.testing.assert_allclose(inner, 0.6, atol=tol)
    assert _max_step(inner) < tol / 2


def test_naive_stitching_would_show_seams(monkeypatch):
    # The seam test above can fail: with uniform weights the window borders show.
    monkeypatch.setattr(inference, "blend_weights", lambda window: np.ones((window, window), np.float32))
    image = np.full((150, 200), 0.6, np.float32)
    pmap = predict_proximity(BorderArtefact(), image, window=64, stride=32, progress=False)
    assert _max_step(pmap[3:-3, 3:-3]) > 0.01


def test_pixelwise_model_reproduced_exactly():
    rng = np.random.default_rng(0)
    image = rng.random((100, 170)).astype(np.float32)
    pmap = predict_proximity(torch.nn.Sigmoid(), image, window=64, stride=48, batch_size=3,
                             progress=False)
    np.testing.assert_allclose(pmap, 1 / (1 + np.exp(-image)), rtol=1e-5)
    assert pmap.dtype == np.float32 and pmap.shape == image.shape


def test_small_image_is_padded():
    image = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    pmap = predict_proximity(torch.nn.Identity(), image, window=32, stride=32, progress=False)
    np.testing.assert_allclose(pmap, image, rtol=1e-6)


def test_mask_skips_windows_and_zeroes_outside():
    image = np.full((128, 256), 0.5, np.float32)
    mask = np.zeros(image.shape, bool)
    mask[10:40, 10:40] = True
    model = CountCalls()
    model.train()
    pmap = predict_proximity(model, image, window=64, stride=32, mask=mask, progress=False)
    # Windows start at 0/32/64 (rows) and 0/32/.../192 (cols); only those touching the mask run.
    assert model.windows == 4
    assert np.all(pmap[~mask] == 0)
    np.testing.assert_allclose(pmap[mask], 0.5)
    assert model.training  # mode restored


def test_output_is_not_differentiable_and_input_untouched():
    image = np.full((64, 64), 0.3, np.float32)
    before = image.copy()
    out = predict_proximity(CountCalls(), image, window=64, stride=64, progress=False)
    np.testing.assert_array_equal(image, before)
    assert isinstance(out, np.ndarray)


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 50}, "multiple of 32"),
    ({"window": 64, "stride": 0}, "stride"),
    ({"window": 64, "stride": 65}, "stride"),
    ({"window": 64, "stride": 32, "batch_size": 0}, "batch_size"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict_proximity(torch.nn.Identity(), np.zeros((64, 64)), progress=False, **kwargs)


def test_bad_mask_and_model_shape():
    with pytest.raises(ValueError, match="mask shape"):
        predict_proximity(torch.nn.Identity(), np.zeros((64, 64)), window=64, stride=64,
                          mask=np.ones((10, 10), bool), progress=False)
    with pytest.raises(ValueError, match="output shape"):
        predict_proximity(torch.nn.MaxPool2d(2), np.zeros((64, 64)), window=64, stride=64, progress=False)


def test_channels_last_gives_the_same_map_and_restores_the_model():
    from hdogreg.regression import build_model

    torch.manual_seed(0)
    model = build_model(pretrained=False, decoder_channels=(64, 32))
    image = np.random.default_rng(0).random((96, 160)).astype(np.float32)
    fast = predict_proximity(model, image, window=64, stride=48, progress=False)
    plain = predict_proximity(model, image, window=64, stride=48, progress=False, channels_last=False)
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    conv = model.encoder.model.conv_stem.weight
    assert conv.is_contiguous()  # the weights are back in the default layout
    assert model.training
