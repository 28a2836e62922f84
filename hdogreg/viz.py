"""Display helpers shared by the book's notebooks: windows, contrast, overlays.

Nothing here changes a result; these functions only choose what to show and how.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["richest_window", "mc_window", "display_range", "show_image", "overlay_outline", "plot_mean_roc",
           "froc_axes", "plot_training_history", "plot_objects_kept",
           "example_patch", "error_extents"]


def richest_window(mask, size):
    """Return the ``size x size`` window holding the most foreground pixels of `mask`.

    Parameters
    ----------
    mask : (H, W) array_like of bool
        Foreground (e.g. annotated MCs).
    size : int
        Side of the window in pixels; clipped to the image.

    Returns
    -------
    window : tuple of slice
        ``(rows, cols)`` slices; the first such window in raster order on ties.

    Examples
    --------
    >>> m = np.zeros((8, 8), bool); m[5:7, 5:7] = True
    >>> richest_window(m, 4)
    (slice(3, 7, None), slice(3, 7, None))
    """
    mask = np.asarray(mask, dtype=np.float64)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    h, w = min(size, mask.shape[0]), min(size, mask.shape[1])
    # Summed-area table: window sums of every top-left position in one pass.
    sat = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = sat[h:, w:] - sat[:-h, w:] - sat[h:, :-w] + sat[:-h, :-w]
    r, c = np.unravel_index(np.argmax(sums), sums.shape)
    return slice(int(r), int(r) + h), slice(int(c), int(c) + w)


def mc_window(mammogram, size):
    """Return the ``size x size`` window of a mammogram holding the most annotated MCs.

    MCs are counted by their centroids, so a cluster of many small MCs wins over one large
    calcification with more annotated pixels (:func:`richest_window` of the centroid mask).

    Parameters
    ----------
    mammogram : hdogreg.data.Mammogram
        Any record with ``image`` and ``mc_points()``.
    size : int
        Side of the window in pixels; clipped to the image.

    Returns
    -------
    window : tuple of slice
        ``(rows, cols)`` slices.
    """
    from .proximity import points_to_mask

    shape = np.shape(mammogram.image)
    return richest_window(points_to_mask(mammogram.mc_points(), shape), size)


def example_patch(data_dir, file_id=None, size=256):
    """Return an annotated image of a data set and its window with the most MCs (the teaching pages).

    Parameters
    ----------
    data_dir : str or Path
        INbreast-format folder (:class:`hdogreg.data.InbreastDataset`).
    file_id : str or int, optional
        The image; default the first of the data set.
    size : int, optional
        Side of the window (:func:`mc_window`).

    Returns
    -------
    mammogram : hdogreg.data.Mammogram
    window : tuple of slice
    """
    from .data import InbreastDataset

    dataset = InbreastDataset(data_dir)
    mammogram = dataset.load(dataset.file_ids()[0] if file_id is None else file_id)
    return mammogram, mc_window(mammogram, size)


def display_range(image, mask=None, percentiles=(0.5, 99.8)):
    """Intensity limits for display: percentiles of `image` (inside `mask` if given)."""
    values = np.asarray(image)[mask] if mask is not None else np.asarray(image)
    if values.size == 0:
        values = np.asarray(image)
    lo, hi = np.percentile(values, percentiles)
    return float(lo), float(hi if hi > lo else lo + 1e-6)


def show_image(ax, image, title=None, *, mask=None, percentiles=(0.5, 99.8), scalebar_mm=None,
               pixel_spacing=None):
    """Show a mammogram (or patch) in grey with a robust contrast window.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : (H, W) ndarray
    title : str, optional
    mask : (H, W) bool ndarray, optional
        Region used to choose the contrast window (e.g. the breast).
    percentiles : tuple of float, optional
        Lower and upper percentiles of the contrast window.
    scalebar_mm, pixel_spacing : float, optional
        Draw a scale bar of this length (needs the pixel spacing in mm).
    """
    vmin, vmax = display_range(image, mask, percentiles)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    if title:
        ax.set_title(title)
    ax.set_axis_off()
    if scalebar_mm and pixel_spacing:
        length = scalebar_mm / pixel_spacing
        h, w = np.shape(image)
        y = h - 0.06 * h
        ax.plot([0.05 * w, 0.05 * w + length], [y, y], color="yellow", lw=3)
        ax.text(0.05 * w, y - 0.03 * h, f"{scalebar_mm:g} mm", color="yellow", fontsize=9)
    return ax


def overlay_outline(ax, mask, color="red", linewidth=1.0):
    """Draw the outlines of the objects of `mask` (points as small circles)."""
    mask = np.asarray(mask, bool)
    ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=linewidth)
    labels, n = ndi.label(mask)
    if n:
        sizes = ndi.sum_labels(mask, labels, np.arange(1, n + 1))
        single = np.flatnonzero(sizes <= 2) + 1
        if single.size:
            rc = np.array(ndi.center_of_mass(mask, labels, single)).reshape(-1, 2)
            ax.scatter(rc[:, 1], rc[:, 0], s=30, facecolors="none", edgecolors=color, linewidths=linewidth)
    return ax


def plot_mean_roc(ax, rocs, aucs, colors, names, *, title=None, band_alpha=0.2):
    """Mean ROC curves over cross-validation folds with a +-1 SD band (Fig. 7 and 8).

    Parameters
    ----------
    ax : matplotlib Axes
    rocs : DataFrame
        ``method, fpr, tpr_mean, tpr_sd`` (:func:`hdogreg.casestudy.roc_table`).
    aucs : DataFrame
        ``method, metric, mean, sd`` with a ``metric == "auc"`` row per method (the legend).
    colors, names : dict
        Colour and legend name of each method.
    title : str, optional
    band_alpha : float, optional
        Opacity of the SD bands.
    """
    for method, sub in rocs.groupby("method", sort=False):
        auc = aucs[(aucs["method"] == method) & (aucs["metric"] == "auc")].iloc[0]
        ax.plot(sub.fpr, sub.tpr_mean, color=colors[method],
                label=f"{names[method]}: AUC {auc['mean']:.3f} ± {auc['sd']:.3f}")
        ax.fill_between(sub.fpr, np.clip(sub.tpr_mean - sub.tpr_sd, 0, 1),
                        np.clip(sub.tpr_mean + sub.tpr_sd, 0, 1), color=colors[method], alpha=band_alpha)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set_xlabel("false positive rate (1 − specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    if title:
        ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=9)


def froc_axes(ax, title=None, *, max_fp=1.0):
    """Frame an FROC plot: FP/cm^2 from 0 to `max_fp`, TPR 0 to 1, labels, legend.

    Parameters
    ----------
    ax : matplotlib Axes
        With the curves already drawn (their labels make the legend).
    title : str, optional
    max_fp : float, optional
        Right end of the FP axis (the paper's pAUC range: 1 FP/cm^2).
    """
    ax.set_xlim(0, max_fp)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positives per cm²")
    ax.set_ylabel("true positive rate")
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="lower right")


def plot_training_history(ax, history, *, best_epoch=None):
    """Plot the training and validation loss of a training run per epoch.

    Parameters
    ----------
    ax : matplotlib Axes
    history : DataFrame or path
        One row per epoch with columns ``epoch, train_loss, val_loss`` (the ``history.csv``
        beside every checkpoint of :func:`hdogreg.training.train`).
    best_epoch : int, optional
        The epoch whose weights were kept (e.g. the checkpoint's ``settings["epoch"]``),
        marked by a dotted line.

    Returns
    -------
    ax : matplotlib Axes
    """
    import pandas as pd

    frame = history if isinstance(history, pd.DataFrame) else pd.read_csv(history)
    missing = sorted({"epoch", "train_loss", "val_loss"} - set(frame.columns))
    if missing:
        raise ValueError(f"history needs the columns epoch, train_loss, val_loss; missing {missing}")
    marker = "o" if len(frame) <= 20 else None
    ax.plot(frame["epoch"], frame["train_loss"], marker=marker, label="training loss")
    ax.plot(frame["epoch"], frame["val_loss"], marker=marker, label="validation loss")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="grey", ls=":", label=f"kept: epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("soft Dice loss (Eq. 10)")
    ax.legend()
    return ax


def plot_objects_kept(ax, scores, p_thr=None, *, n_steps=41):
    """Plot how many objects a fusion keeps as a function of the map threshold.

    An object with score ``s`` (:func:`hdogreg.fusion.object_scores`: the largest ``p_thr``
    at which it is still kept) is kept at every threshold ``<= s``, so the curve is the
    number of scores at or above each threshold, drawn as a step function on `n_steps`
    quantiles of the scores (and 0).

    Parameters
    ----------
    ax : matplotlib Axes
    scores : (n_objects,) array_like of float
    p_thr : float, optional
        The threshold used, marked by a dashed line.
    n_steps : int, optional

    Returns
    -------
    thresholds, n_kept : ndarray
        The plotted points.
    """
    scores = np.asarray(scores, dtype=float).ravel()
    quantiles = np.quantile(scores, np.linspace(0, 1, n_steps)) if scores.size else []
    thresholds = np.unique(np.concatenate([[0.0], quantiles]))
    n_kept = (scores[None, :] >= thresholds[:, None]).sum(axis=1)
    ax.step(thresholds, n_kept, where="post")
    if p_thr is not None:
        ax.axvline(p_thr, color="red", linestyle="--", label=r"$p_{thr}$ used")
        ax.legend()
    ax.set_xlabel(r"$p_{thr}$")
    ax.set_ylabel("objects kept")
    return thresholds, n_kept


def error_extents(center, lo, hi):
    """Error-bar lengths ``[center - lo, hi - center]`` for matplotlib's ``errorbar``.

    A bootstrap percentile interval need not contain the bootstrap mean (e.g. when a few
    resamples score 0 and the rest the same value, the mean lies below the 2.5 % quantile);
    the side that would be negative is drawn with length 0 instead of raising.

    Examples
    --------
    >>> error_extents([0.49, 0.5], [0.5, 0.4], [0.5, 0.7]).round(2)
    array([[0.  , 0.1 ],
           [0.01, 0.2 ]])
    """
    center, lo, hi = (np.asarray(v, dtype=float) for v in (center, lo, hi))
    return np.clip(np.stack([center - lo, hi - center]), 0, None)
