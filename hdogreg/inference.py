"""Full-field inference of the regression network with overlapping, blended windows.

A full-field digital mammogram (about 3328 x 4084 pixels in INbreast) does not fit the
network in one pass on a CPU, so the proximity map is predicted window by window. The
authors kept the central part of 512-px windows taken with a 256-px stride (no blending);
here every window's prediction is weighted by a separable Hann window with a small floor and
the weighted predictions are divided by the summed weights. A pixel therefore gets the
prediction of the windows in which it lies most centrally, and the output has no seams even
when the network misbehaves near window borders.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm import tqdm

from hdogreg._utils import check_image

__all__ = ["predict_proximity", "window_starts", "blend_weights", "FAST_STRIDE"]

#: Network input sides must be multiples of this (5 down-sampling stages of the encoders).
SIDE_MULTIPLE = 32

#: Smallest weight of a pixel in a window (relative to the centre's 1), so that pixels seen
#: only near a window's border (image corners) still get a prediction.
WEIGHT_FLOOR = 1e-3


#: Stride for speed on a CPU (``hdogreg segment``, the shipped model's validation): 384 (a
#: quarter overlap of 512-px windows) computes 0.55 times the windows of the authors' 256 on a
#: full-field image (``benchmarks/bench_segment.py``); on the validation split it gives the
#: same FROC and segmentation as 256 within the bootstrap interval
#: (``benchmarks/bench_stride.py``).
FAST_STRIDE = 384


def window_starts(length, window, stride):
    """Start offsets of a regular grid of windows covering ``range(length)`` along one axis.

    Windows start every ``stride`` pixels, as many as needed to reach the end; the axis is
    then padded to ``padded = starts[-1] + window`` (>= ``length``). A regular grid gives
    every pixel the same blending profile (a last window placed flush with the end would
    overlap its neighbour irregularly and let that neighbour's border count more).

    Parameters
    ----------
    length : int
        Axis length, >= 1.
    window, stride : int
        Window side and step, ``0 < stride <= window``.

    Returns
    -------
    starts : list of int
    padded : int
        Length the axis must be padded to.

    Examples
    --------
    >>> window_starts(10, 4, 3)
    ([0, 3, 6], 10)
    >>> window_starts(11, 4, 3)
    ([0, 3, 6, 9], 13)
    >>> window_starts(2, 4, 3)
    ([0], 4)
    """
    if length < 1:
        raise ValueError(f"axis length must be >= 1, got {length}")
    n = 1 + max(0, math.ceil((length - window) / stride))
    starts = [i * stride for i in range(n)]
    return starts, starts[-1] + window


def blend_weights(window, floor=WEIGHT_FLOOR):
    """Separable blending weights of one window: ``max(hann(i), floor) * max(hann(j), floor)``.

    Parameters
    ----------
    window : int
        Window side.
    floor : float, optional
        Lower bound of the weights, > 0.

    Returns
    -------
    weights : (window, window) ndarray of float32
        Close to 1 at the centre, falling to ``floor`` along the border (``floor**2`` at the
        corners). The floor is applied per axis so that, near an image border covered by one
        row of windows, the weights across that border still come from the Hann profile.

    Notes
    -----
    ``hann(i) = sin^2(pi (i + 1/2) / window)``, symmetric about the window centre.
    """
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    i = np.arange(window, dtype=np.float64)
    hann = np.sin(np.pi * (i + 0.5) / window) ** 2
    hann = np.maximum(hann, floor)
    return np.outer(hann, hann).astype(np.float32)


def _model_device(model):
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    import torch

    return torch.device("cpu")


def predict_proximity(model, image, *, window=512, stride=256, batch_size=4, mask=None,
                      progress=True, channels_last=True):
    r"""Predict the proximity map of a full-field image with overlapping windows.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a float32 batch ``(N, 1, window, window)`` with values in [0, 1] to a batch of
        the same shape (the regression network of :mod:`hdogreg.regression`, with its final
        sigmoid). It is run in ``eval`` mode under ``torch.inference_mode``; its previous
        training mode is restored afterwards.
    image : (H, W) array_like
        Image on the package's intensity scale (float in [0, 1]).
    window : int, optional
        Side of the square windows; a multiple of 32.
    stride : int, optional
        Step between windows, ``0 < stride <= window``. The authors used 512 / 256.
    batch_size : int, optional
        Windows per forward pass.
    mask : (H, W) array_like of bool, optional
        Region of interest (the breast, :func:`hdogreg.breast.breast_mask`). Windows without
        a pixel of the mask are not computed, and the output is 0 outside the mask.
    progress : bool, optional
        Show a progress bar over the batches.
    channels_last : bool, optional
        Run the network in PyTorch's channels-last memory format (the weights are restrided
        for the call and restored afterwards). Same values up to float rounding; on 2 CPU cores
        about 15 % faster for the FPN (``benchmarks/bench_segment.py``).

    Returns
    -------
    pmap : (H, W) ndarray of float32
        The predicted proximity map :math:`\hat P(x, y)`.

    Notes
    -----
    Windows start every ``stride`` pixels along each axis, as many as needed to cover the
    image (:func:`window_starts`); the image is padded at the bottom/right by mirror
    reflection (``numpy.pad(mode="symmetric")``) to that grid and the prediction is cropped
    back. The same padding makes images smaller than one window well defined. Each window's
    prediction is multiplied by :func:`blend_weights` and accumulated; the sum is divided by
    the accumulated weights. A network whose output does not depend on the window position
    (e.g. a constant or a pixel-wise map) is therefore reproduced exactly, and a network that
    errs near window borders leaves no seams (those pixels are dominated by the windows in
    which they are central).

    Examples
    --------
    >>> import torch
    >>> pmap = predict_proximity(torch.nn.Identity(), np.full((40, 70), 0.25), window=32,
    ...                          stride=16, progress=False)
    >>> pmap.shape, float(pmap.min()), float(pmap.max())
    ((40, 70), 0.25, 0.25)
    """
    import torch

    if not isinstance(window, (int, np.integer)) or window <= 0 or window % SIDE_MULTIPLE:
        raise ValueError(f"window must be a positive multiple of {SIDE_MULTIPLE}, got {window}")
    if not isinstance(stride, (int, np.integer)) or not 0 < stride <= window:
        raise ValueError(f"stride must be an integer in (0, window={window}], got {stride}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    image = check_image(image)
    rows, cols = image.shape
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")

    # Pad the bottom/right (mirror) to a regular grid of windows; crop at the end.
    row_starts, prows = window_starts(rows, window, stride)
    col_starts, pcols = window_starts(cols, window, stride)
    pad_r, pad_c = prows - rows, pcols - cols
    padded = np.pad(image, ((0, pad_r), (0, pad_c)), mode="symmetric") if pad_r or pad_c else image
    padded = np.ascontiguousarray(padded, dtype=np.float32)
    pmask = None
    if mask is not None:
        pmask = np.pad(mask, ((0, pad_r), (0, pad_c)), mode="constant") if pad_r or pad_c else mask

    starts = [(r, c) for r in row_starts for c in col_starts]
    if pmask is not None:
        starts = [(r, c) for r, c in starts if pmask[r:r + window, c:c + window].any()]

    weights = blend_weights(window)
    acc = np.zeros((prows, pcols), np.float32)
    wsum = np.zeros((prows, pcols), np.float32)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model.to(memory_format=fmt)
    n_batches = math.ceil(len(starts) / batch_size)
    try:
        with torch.inference_mode():
            for b in tqdm(range(n_batches), desc="windows", unit="batch",
                          disable=None if progress else True, leave=False):
                chunk = starts[b * batch_size:(b + 1) * batch_size]
                batch = np.stack([padded[r:r + window, c:c + window] for r, c in chunk])
                x = torch.from_numpy(batch[:, None]).to(device).contiguous(memory_format=fmt)
                y = model(x)
                if tuple(y.shape) != tuple(x.shape):
                    raise ValueError(f"model output shape {tuple(y.shape)} differs from its "
                                     f"input shape {tuple(x.shape)}")
                y = y.detach().to("cpu", torch.float32).numpy()[:, 0]
                for (r, c), pred in zip(chunk, y):
                    acc[r:r + window, c:c + window] += pred * weights
                    wsum[r:r + window, c:c + window] += weights
    finally:
        model.train(was_training)
        if channels_last:
            model.to(memory_format=torch.contiguous_format)

    out = np.zeros((prows, pcols), np.float32)
    np.divide(acc, wsum, out=out, where=wsum > 0)
    out = out[:rows, :cols]
    if mask is not None:
        out[~mask] = 0
    return out
