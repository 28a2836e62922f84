"""The 31 features of the case study: regional and individual microcalcification features.

The paper's case study ("Feature Extraction") describes each segmented region of interest (ROI)
by 31 features in two groups:

* **regional** (17): all microcalcifications (MCs) of the ROI taken together as one region —
  foreground area, convex hull area, major and minor axis length, orientation of the major axis
  with respect to the horizontal, eccentricity, solidity, the two principal moments of inertia,
  the seven Hu moments and the number of MCs;
* **individual** (7 x 2 = 14): every MC described by its area, major and minor axis length,
  maximum, minimum and mean intensity and eccentricity, aggregated per ROI by the mean and the
  standard deviation.

Everything is computed with :func:`skimage.measure.regionprops` /
:func:`skimage.measure.regionprops_table` in pixel units and converted to physical units with
the (isotropic) pixel spacing: lengths in mm, areas and moments of inertia in mm².
Eccentricity, solidity and the Hu moments are dimensionless; intensities are on the loaders'
[0, 1] scale (``raw / intensity_scale``, see ``CONTRIBUTING.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.measure import label as _label
from skimage.measure import regionprops, regionprops_table

__all__ = [
    "REGIONAL_FEATURES",
    "INDIVIDUAL_PROPERTIES",
    "FEATURE_NAMES",
    "FEATURE_UNITS",
    "segmentation_labels",
    "regional_features",
    "individual_features",
    "roi_features",
]

#: Names of the 17 regional features, in the paper's order.
REGIONAL_FEATURES = (
    "area_mm2",
    "convex_area_mm2",
    "major_axis_mm",
    "minor_axis_mm",
    "orientation_deg",
    "eccentricity",
    "solidity",
    "inertia_1_mm2",
    "inertia_2_mm2",
    "hu_1",
    "hu_2",
    "hu_3",
    "hu_4",
    "hu_5",
    "hu_6",
    "hu_7",
    "n_mcs",
)

#: Names of the 7 per-MC properties (columns of :func:`individual_features`), paper's order.
INDIVIDUAL_PROPERTIES = (
    "area_mm2",
    "major_axis_mm",
    "minor_axis_mm",
    "intensity_max",
    "intensity_min",
    "intensity_mean",
    "eccentricity",
)

#: The 31 feature names returned by :func:`roi_features`: the regional ones prefixed
#: ``region_``, then ``mc_<property>_mean`` and ``mc_<property>_std`` for each property.
FEATURE_NAMES = tuple(f"region_{n}" for n in REGIONAL_FEATURES) + tuple(
    f"mc_{p}_{stat}" for p in INDIVIDUAL_PROPERTIES for stat in ("mean", "std")
)


def _unit(name):
    if name.endswith("_mm2"):
        return "mm^2"
    if name.endswith("_mm"):
        return "mm"
    if name.endswith("_deg"):
        return "degree"
    if name.startswith("intensity"):
        return "intensity ([0, 1] scale)"
    if name == "n_mcs":
        return "count"
    return "1"


#: Unit of each feature in :data:`FEATURE_NAMES` ("1" = dimensionless).
FEATURE_UNITS = {
    **{f"region_{n}": _unit(n) for n in REGIONAL_FEATURES},
    **{
        f"mc_{p}_{stat}": _unit(p)
        for p in INDIVIDUAL_PROPERTIES
        for stat in ("mean", "std")
    },
}

# regionprops_table property -> (our name, power of the pixel spacing)
_INDIVIDUAL_PROPS = {
    "area": ("area_mm2", 2),
    "axis_major_length": ("major_axis_mm", 1),
    "axis_minor_length": ("minor_axis_mm", 1),
    "intensity_max": ("intensity_max", 0),
    "intensity_min": ("intensity_min", 0),
    "intensity_mean": ("intensity_mean", 0),
    "eccentricity": ("eccentricity", 0),
}


def _check_spacing(pixel_spacing):
    try:
        ok = float(pixel_spacing) > 0 and np.isfinite(float(pixel_spacing))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"pixel_spacing must be a positive number (mm/pixel), got {pixel_spacing!r}")
    return float(pixel_spacing)


def segmentation_labels(segmentation, *, connectivity=1):
    """Label image of the MCs of a segmentation.

    Parameters
    ----------
    segmentation : (M, N) array
        Either a boolean mask (its connected components become the MCs) or an integer label
        image (each distinct positive label is one MC, as given — e.g. the ``labels`` of
        :class:`hdogreg.hdog.HDoGResult` or :class:`hdogreg.fusion.FusionResult`).
    connectivity : {1, 2}, optional
        Connectivity used to label a boolean mask: 1 = 4-connected (the authors' choice for
        HDoG objects and fusion), 2 = 8-connected. Ignored for label images.

    Returns
    -------
    labels : (M, N) ndarray of int32
        0 = background, 1..n = MCs.

    Raises
    ------
    ValueError
        If the array is not 2-D, is of a non-integer, non-boolean dtype, or has negative labels.
    """
    seg = np.asarray(segmentation)
    if seg.ndim != 2:
        raise ValueError(f"segmentation: expected a 2-D array, got shape {seg.shape}")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 or 2, got {connectivity}")
    if seg.dtype == bool:
        return _label(seg, connectivity=connectivity).astype(np.int32, copy=False)
    if seg.dtype.kind not in "iu":
        raise ValueError(
            f"segmentation: expected a boolean mask or an integer label image, got dtype {seg.dtype}"
        )
    if seg.size and seg.min() < 0:
        raise ValueError(f"segmentation: labels must be >= 0, got minimum {seg.min()}")
    return seg.astype(np.int32, copy=False)


def regional_features(segmentation, *, pixel_spacing, connectivity=1):
    """Compute the 17 regional features: all MCs of a ROI described as one region.

    Parameters
    ----------
    segmentation : (M, N) array of bool or int
        Boolean mask or label image of the ROI's MCs (see :func:`segmentation_labels`). The
        union of all MCs (the foreground) is described as a single region.
    pixel_spacing : float
        Isotropic pixel size in mm/pixel (INbreast: 0.07).
    connectivity : {1, 2}, optional
        Connectivity used to count the MCs of a boolean mask (1 = 4-connected).

    Returns
    -------
    features : pandas.Series
        Indexed by :data:`REGIONAL_FEATURES`:

        ``area_mm2``
            Foreground area (number of MC pixels x spacing²).
        ``convex_area_mm2``
            Area of the convex hull enclosing all MCs.
        ``major_axis_mm``, ``minor_axis_mm``
            Axis lengths of the ellipse with the same second central moments
            (``4 sqrt(eigenvalue)``).
        ``orientation_deg``
            Angle of the major axis with the horizontal (image x = column axis), in degrees in
            (-90, 90], counter-clockwise as the image is displayed (row 0 at the top).
        ``eccentricity``
            Of the same-moments ellipse; 0 for a disk, -> 1 for a line.
        ``solidity``
            Foreground area / convex hull area.
        ``inertia_1_mm2``, ``inertia_2_mm2``
            Principal moments of inertia = eigenvalues of the inertia tensor (coordinate
            variances along the principal axes, largest first), in mm².
        ``hu_1`` ... ``hu_7``
            Hu's seven moment invariants of the binary foreground (translation, scale and
            rotation invariant; ``hu_7`` changes sign under reflection).
        ``n_mcs``
            Number of MCs (connected components / labels).

        For an empty segmentation every feature, ``n_mcs`` included, is NaN: nothing was
        segmented, so the ROI is described by no measurement (the classifier imputes).

    Notes
    -----
    scikit-image measures ``orientation`` from the row axis; it is converted here to the
    paper's "orientation of the major axis with respect to the horizontal line" as
    ``degrees(orientation) - 90`` wrapped into (-90, 90]. A disk has no defined major axis;
    its orientation is whatever the discretisation gives.

    Hu moments come from normalised central moments and are scale invariant, so they are the
    same in pixel and physical units.

    Examples
    --------
    >>> from skimage.draw import disk
    >>> mask = np.zeros((64, 64), bool)
    >>> mask[disk((32, 32), 10)] = True
    >>> f = regional_features(mask, pixel_spacing=0.07)
    >>> int(f["n_mcs"]), round(float(f["eccentricity"]), 2)
    (1, 0.0)
    """
    spacing = _check_spacing(pixel_spacing)
    labels = segmentation_labels(segmentation, connectivity=connectivity)
    fg = labels > 0
    n_mcs = int(np.unique(labels[fg]).size)
    out = pd.Series(np.nan, index=list(REGIONAL_FEATURES), dtype=float)
    if n_mcs == 0:
        return out
    out["n_mcs"] = n_mcs
    (region,) = regionprops(fg.astype(np.uint8))
    theta = np.degrees(region.orientation) - 90.0
    if theta <= -90.0:
        theta += 180.0
    eig = region.inertia_tensor_eigvals  # pixel², largest first
    out["area_mm2"] = region.area * spacing**2
    out["convex_area_mm2"] = region.area_convex * spacing**2
    out["major_axis_mm"] = region.axis_major_length * spacing
    out["minor_axis_mm"] = region.axis_minor_length * spacing
    out["orientation_deg"] = theta
    out["eccentricity"] = region.eccentricity
    out["solidity"] = region.solidity
    out["inertia_1_mm2"] = eig[0] * spacing**2
    out["inertia_2_mm2"] = eig[1] * spacing**2
    out[[f"hu_{i}" for i in range(1, 8)]] = np.asarray(region.moments_hu, dtype=float)
    return out


def individual_features(segmentation, image, *, pixel_spacing, connectivity=1):
    """Per-MC features: one row per object of the segmentation.

    Parameters
    ----------
    segmentation : (M, N) array of bool or int
        Boolean mask or label image (see :func:`segmentation_labels`).
    image : (M, N) array
        The ROI image the intensities are read from (float in [0, 1] from the loaders).
    pixel_spacing : float
        Isotropic pixel size in mm/pixel.
    connectivity : {1, 2}, optional
        Connectivity used to label a boolean mask.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``label`` then :data:`INDIVIDUAL_PROPERTIES` (area in mm², axis lengths in mm,
        intensities on the image's scale, eccentricity); zero rows (same columns) when the
        segmentation is empty.

    Raises
    ------
    ValueError
        If the image and segmentation shapes differ or the image holds NaN/inf.
    """
    spacing = _check_spacing(pixel_spacing)
    labels = segmentation_labels(segmentation, connectivity=connectivity)
    img = np.asarray(image)
    if img.shape != labels.shape:
        raise ValueError(
            f"image shape {img.shape} does not match segmentation shape {labels.shape}"
        )
    if img.dtype.kind not in "fiub":
        raise ValueError(f"image: expected a numeric image, got dtype {img.dtype}")
    img = img.astype(np.float64, copy=False)
    if not np.isfinite(img).all():
        raise ValueError("image contains NaN or infinite values")
    columns = ["label", *INDIVIDUAL_PROPERTIES]
    if not labels.any():
        return pd.DataFrame({c: pd.Series(dtype=int if c == "label" else float) for c in columns})
    raw = regionprops_table(
        labels, intensity_image=img, properties=("label", *_INDIVIDUAL_PROPS)
    )
    table = pd.DataFrame({"label": np.asarray(raw["label"], dtype=int)})
    for prop, (name, power) in _INDIVIDUAL_PROPS.items():
        table[name] = np.asarray(raw[prop], dtype=float) * spacing**power
    return table[columns]


def roi_features(segmentation, image, *, pixel_spacing, connectivity=1):
    """Compute the 31 case-study features of one ROI.

    Parameters
    ----------
    segmentation : (M, N) array of bool or int
        Boolean mask or label image of the ROI's MCs (see :func:`segmentation_labels`).
    image : (M, N) array
        The ROI image (float in [0, 1]).
    pixel_spacing : float
        Isotropic pixel size in mm/pixel.
    connectivity : {1, 2}, optional
        Connectivity used to label a boolean mask (1 = 4-connected).

    Returns
    -------
    features : pandas.Series of float
        Indexed by :data:`FEATURE_NAMES`: the 17 :func:`regional_features` (prefixed
        ``region_``) and the mean and standard deviation over the ROI's MCs of each of the
        7 :func:`individual_features` (``mc_<property>_mean``, ``mc_<property>_std``).

    Notes
    -----
    **Empty segmentation**: all 31 features are NaN (missing, not zero: there is no shape
    to describe, and a failed segmentation is not evidence of "no MCs"). The classifier's
    mean imputation fills them, as in the paper ("Imputation was needed for cases where the
    segmentation was empty").

    **Standard deviation** is the population standard deviation (``ddof=0``), so a ROI with a
    single MC has standard deviation 0: the spread of one value is zero, a known value rather
    than a missing one.

    Examples
    --------
    >>> mask = np.zeros((32, 32), bool)
    >>> f = roi_features(mask, np.zeros((32, 32)), pixel_spacing=0.07)
    >>> len(f), int(f.isna().sum())
    (31, 31)
    """
    labels = segmentation_labels(segmentation, connectivity=connectivity)
    regional = regional_features(labels, pixel_spacing=pixel_spacing)
    table = individual_features(labels, image, pixel_spacing=pixel_spacing)
    values = table[list(INDIVIDUAL_PROPERTIES)].to_numpy(dtype=float)
    if len(table):
        means, stds = values.mean(axis=0), values.std(axis=0, ddof=0)
    else:
        means = stds = np.full(len(INDIVIDUAL_PROPERTIES), np.nan)
    out = pd.Series(np.nan, index=list(FEATURE_NAMES), dtype=float)
    out[[f"region_{n}" for n in REGIONAL_FEATURES]] = regional.to_numpy(dtype=float)
    out[[f"mc_{p}_mean" for p in INDIVIDUAL_PROPERTIES]] = means
    out[[f"mc_{p}_std" for p in INDIVIDUAL_PROPERTIES]] = stds
    return out

