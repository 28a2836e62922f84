"""The loss and the validation metric of the training: soft Dice (Eq. 10), IoU per patch."""

from __future__ import annotations

import numpy as np

from ..fusion import DEFAULT_P_THR

__all__ = ["soft_dice_loss", "iou_per_patch"]


# --------------------------------------------------------------------------- loss and metric


def soft_dice_loss(pred, target, eps=1.0, *, reduction="batch"):
    r"""Soft Dice loss between predicted and target proximity maps (Eq. 10).

    Parameters
    ----------
    pred, target : torch.Tensor
        Same shape ``(N, ...)``, values in [0, 1] (``pred`` after the sigmoid).
    eps : float, optional
        Smoothing term :math:`\epsilon` of Eq. 10 (the paper: 1).
    reduction : {"batch", "sample"}, optional
        ``"batch"`` (default): the sums of Eq. 10 run over every pixel of every patch in the
        batch, giving one ratio per batch. This is what the authors' code computed
        (``smp.utils.losses.DiceLoss``, eps 1). ``"sample"``: Eq. 10 per patch, then the mean.

    Returns
    -------
    loss : torch.Tensor
        Scalar in [0, 1).

    Notes
    -----
    .. math::

        L_{DICE}(\hat P, P) = 1 - \frac{2 \sum_{x,y} P(x,y) \hat P(x,y) + \epsilon}
                               {\sum_{x,y} (P(x,y) + \hat P(x,y)) + \epsilon}

    A perfect prediction of a non-empty target gives a loss near 0 (exactly 0 for binary
    targets); disjoint supports give ``1 - eps / (sum + eps)``, near 1. With ``eps = 1`` an empty
    target predicted as all zeros gives 0.

    References
    ----------
    .. [1] Marasinou C. et al. (2023), Eq. 10.
    .. [2] Milletari F., Navab N., Ahmadi S.-A. (2016), "V-Net", 3DV.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[1.0, 0.0]]); t = torch.tensor([[1.0, 0.0]])
    >>> float(soft_dice_loss(p, t))        # 1 - (2 + 1) / (2 + 1)
    0.0
    >>> round(float(soft_dice_loss(p, 1 - t)), 4)   # 1 - 1 / (2 + 1)
    0.6667
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    target = target.to(pred.dtype)
    if reduction == "batch":
        inter = (pred * target).sum()
        total = (pred + target).sum()
        return 1.0 - (2.0 * inter + eps) / (total + eps)
    if reduction == "sample":
        dims = tuple(range(1, pred.ndim))
        inter = (pred * target).sum(dim=dims)
        total = (pred + target).sum(dim=dims)
        return (1.0 - (2.0 * inter + eps) / (total + eps)).mean()
    raise ValueError(f"reduction must be 'batch' or 'sample', got {reduction!r}")


def iou_per_patch(pred, target, p_thr=DEFAULT_P_THR):
    """IoU per patch of the thresholded prediction against the proximity support.

    Parameters
    ----------
    pred, target : torch.Tensor or ndarray
        ``(N, ...)`` predicted and target proximity maps.
    p_thr : float, optional
        The prediction is binarised as ``pred >= p_thr``; the reference is ``target > 0`` (the
        region within ``xi`` of an annotated MC).

    Returns
    -------
    iou : ndarray of float64, shape (N,)
        ``|A & B| / |A | B|`` per patch; 1 when both are empty.

    Notes
    -----
    This is the model-selection metric ("average IoU per patch", the paper's Training section).
    The authors' code thresholded the prediction at 0.5 against the continuous target; with the
    support ``target > 0`` as reference a perfect regressor only scores ~1 for a threshold at
    the support's edge, hence the default ``p_thr`` = :data:`hdogreg.fusion.DEFAULT_P_THR`
    (10**-3.5, their fusion threshold).
    """
    pred = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred)
    target = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target)
    n = pred.shape[0]
    a = (pred >= p_thr).reshape(n, -1)
    b = (target > 0).reshape(n, -1)
    inter = (a & b).sum(axis=1)
    union = (a | b).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)
