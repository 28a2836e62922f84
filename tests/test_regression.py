"""Tests of hdogreg.regression: the FPN, the encoder registry, offline weights, checkpoints."""

import json

import numpy as np
import pytest
import torch

from hdogreg import regression
from hdogreg.regression import (
    ENCODERS,
    build_model,
    efficientnet_lite0_weights_path,
    load_checkpoint,
    load_efficientnet_lite0_imagenet,
    load_encoder_weights,
    pad_to_multiple,
    save_checkpoint,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_registry_has_paper_and_offline_encoders():
    assert "inceptionv4" in ENCODERS
    assert ENCODERS["tu-efficientnet_lite0"]["offline_weights"] is not None
    assert regression.DEFAULT_ENCODER in ENCODERS


def test_build_model_shape_and_range():
    torch.manual_seed(0)
    model = build_model("tu-efficientnet_lite0", pretrained=False).eval()
    x = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1, 64, 96)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    assert model.encoder.model.conv_stem.weight.shape[1] == 1


def test_build_model_rejects_bad_input():
    with pytest.raises(ValueError, match="encoder must be one of"):
        build_model("vgg99", pretrained=False)
    with pytest.raises(ValueError, match="no offline ImageNet weights"):
        build_model("inceptionv4", pretrained=True)
    with pytest.raises(ValueError, match="decoder_dropout"):
        build_model(pretrained=False, decoder_dropout=1.5)
    for bad in [(128,), (128, 0), (128.5, 64), (128, 48), "wide"]:
        with pytest.raises(ValueError, match="decoder_channels"):
            build_model(pretrained=False, decoder_channels=bad)


def test_decoder_channels_set_width_and_survive_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    narrow = build_model(pretrained=False, decoder_channels=(64, 32))
    assert regression.decoder_channels(narrow) == (64, 32)
    assert regression.decoder_channels(build_model(pretrained=False)) == regression.DEFAULT_DECODER_CHANNELS
    n_narrow = sum(p.numel() for p in narrow.parameters())
    n_paper = sum(p.numel() for p in build_model(
        pretrained=False, decoder_channels=regression.PAPER_DECODER_CHANNELS).parameters())
    assert n_narrow < n_paper
    # the width is read from the model, whatever the settings say
    path = regression.save_checkpoint(tmp_path / "m.pt", narrow, {"encoder": regression.DEFAULT_ENCODER})
    model, settings = regression.load_checkpoint(path)
    assert settings["decoder_channels"] == [64, 32]
    assert regression.decoder_channels(model) == (64, 32)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), narrow.eval()(x))


def test_checkpoint_without_decoder_channels_is_smp_default_width(tmp_path):
    # checkpoints written before the setting existed were built with smp's default FPN
    paper = build_model(pretrained=False, decoder_channels=regression.PAPER_DECODER_CHANNELS)
    path = regression.save_checkpoint(tmp_path / "old.pt", paper, {"encoder": regression.DEFAULT_ENCODER})
    meta = json.loads(path.with_suffix(".json").read_text())
    del meta["decoder_channels"]
    path.with_suffix(".json").write_text(json.dumps(meta))
    model, _ = regression.load_checkpoint(path)
    assert regression.decoder_channels(model) == regression.PAPER_DECODER_CHANNELS


def test_inceptionv4_fpn_one_channel():
    torch.manual_seed(0)
    model = build_model("inceptionv4", pretrained=False,
                        decoder_channels=regression.PAPER_DECODER_CHANNELS).eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert 43e6 < n_params < 44e6
    first = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1
    with torch.no_grad():
        y = model(torch.rand(1, 1, 64, 64))
    assert y.shape == (1, 1, 64, 64)
    assert 0 <= float(y.min()) <= float(y.max()) <= 1


def test_efficientnet_lite0_mapping_assigns_every_tensor():
    source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    assert len(source) == 296
    model = build_model("tu-efficientnet_lite0", pretrained=False)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    mapping = load_efficientnet_lite0_imagenet(model.encoder)
    state = model.encoder.state_dict()
    assert len(state) == 288
    assert sorted(mapping.values()) == sorted(state)  # every encoder tensor assigned once
    assert len(set(mapping.values())) == len(mapping)
    for src_key, dst_key in mapping.items():
        src = source[src_key]
        if src_key == "_conv_stem.weight":
            src = src.sum(dim=1, keepdim=True)  # RGB folded into grey
        torch.testing.assert_close(state[dst_key], src.to(state[dst_key].dtype), rtol=0, atol=0)
    # the head is dropped, and something actually changed
    assert not any(k.startswith(("_fc", "_conv_head")) for k in mapping)
    key = "model.blocks.6.0.conv_pwl.weight"
    assert not torch.equal(before[key], state[key])
    # spot-check the renaming of an inverted-residual block: lukemelas _bn1 is timm bn2
    torch.testing.assert_close(state["model.blocks.1.0.bn2.running_var"],
                               source["_blocks.1._bn1.running_var"])


def test_build_model_pretrained_uses_wheel_weights():
    model = build_model("tu-efficientnet_lite0", pretrained=True)
    source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    torch.testing.assert_close(model.encoder.model.blocks[6][0].conv_pwl.weight,
                               source["_blocks.15._project_conv.weight"])


def test_load_encoder_weights_by_path_folds_rgb(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", pretrained=False)
    enc = model.encoder.state_dict()
    source = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in enc.items()}
    source["conv1.weight"] = torch.randn(64, 3, 7, 7)
    source["fc.weight"] = torch.randn(1000, 512)  # classifier head: ignored
    path = tmp_path / "resnet18.pth"
    torch.save(source, path)
    model2 = build_model("resnet18", weights_path=path)
    torch.testing.assert_close(model2.encoder.conv1.weight, source["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(model2.encoder.layer4[1].conv2.weight, source["layer4.1.conv2.weight"])
    bad = dict(source)
    bad["layer1.0.conv1.weight"] = torch.randn(3, 3, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="layer1.0.conv1.weight"):
        load_encoder_weights(model.encoder, tmp_path / "bad.pth")
    del bad["layer1.0.conv1.weight"]
    del bad["layer1.0.conv2.weight"]
    torch.save(bad, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="not assigned"):
        load_encoder_weights(model.encoder, tmp_path / "missing.pth")


@pytest.mark.parametrize("shape", [(40, 64), (1, 1, 33, 32), (32, 32)])
def test_pad_to_multiple(shape):
    for x in (np.ones(shape, np.float32), torch.ones(shape)):
        padded, crop = pad_to_multiple(x, 32)
        assert padded.shape[-2] % 32 == 0 and padded.shape[-1] % 32 == 0
        assert padded.shape[-2] - shape[-2] < 32 and padded.shape[-1] - shape[-1] < 32
        back = padded[..., crop[0], crop[1]]
        assert tuple(back.shape) == shape
        assert float(back.min()) == 1 and float(padded.sum()) == float(np.prod(shape))
    with pytest.raises(ValueError, match="multiple"):
        pad_to_multiple(np.ones((3, 3)), 0)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = build_model("tu-efficientnet_lite0", pretrained=False, decoder_dropout=0.1)
    with torch.no_grad():  # make BN statistics non-trivial
        model.train()(torch.rand(2, 1, 64, 64))
    settings = {"encoder": "tu-efficientnet_lite0", "decoder_dropout": 0.1, "xi": 10.0,
                "data_hash": "abc", "epoch": 3, "metrics": {"val_iou": np.float64(0.5)}}
    path = save_checkpoint(tmp_path / "m.pt", model, settings)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["data_hash"] == "abc" and meta["metrics"]["val_iou"] == 0.5
    loaded, got = load_checkpoint(path)
    assert got == meta and not loaded.training
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), loaded(x))
    # plain state_dict, loadable without pickled classes
    assert isinstance(torch.load(path, weights_only=True), dict)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]


def test_checkpoint_errors(tmp_path):
    model = build_model("tu-efficientnet_lite0", pretrained=False)
    with pytest.raises(ValueError, match="encoder"):
        save_checkpoint(tmp_path / "m.pt", model, {"xi": 10})
    with pytest.raises(FileNotFoundError, match="m.pt"):
        load_checkpoint(tmp_path / "m.pt")
    save_checkpoint(tmp_path / "m.pt", model, {"encoder": "tu-efficientnet_lite0"})
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ValueError, match="malformed JSON"):
        load_checkpoint(tmp_path / "m.pt")
