"""One mammogram through both branches of the paper's Fig. 1 and their fusion.

Upper branch: Hessian-DoG blob segmentation (:func:`hdogreg.hdog.hdog_segment`) proposes
bright blob-like and tubular candidate objects. Lower branch: the regression network predicts
the proximity map over the breast (:func:`hdogreg.inference.predict_proximity`). Output
generation: the candidates overlapping the thresholded map by more than ``o_thr`` are kept
(:func:`hdogreg.fusion.fuse`). :func:`mc_table` then measures every kept microcalcification.

The method's scales are fixed in pixels at 0.07 mm (:data:`hdogreg.spacing.NATIVE_SPACING`):
an image at another spacing is resampled to 0.07 mm for both branches and the fusion, and the
kept objects are mapped back onto the input grid (:mod:`hdogreg.spacing`), where they are
measured.

Intensity standardisation (``SegmentParams.normalize``, :func:`hdogreg.standardize.standardize`)
is applied once, on the native grid (:func:`native_input`), and both branches see the
standardised image; ``normalize="none"`` is the paper's raw-scale behaviour.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from hdogreg import spacing as _spacing
from hdogreg._utils import check_image
from hdogreg._validation import check_choice, check_dog_threshold, check_finite, check_unit_interval
from hdogreg.fusion import DEFAULT_P_THR, FusionResult, fuse
from hdogreg.hessian import DEFAULT_RULE, RULES
from hdogreg.inference import predict_proximity
from hdogreg.standardize import DEFAULT_METHOD, standardize, standardize_breast_mask

__all__ = ["SegmentParams", "SegmentationResult", "NativeInput", "native_input", "segment_mammogram",
           "fusion_region",
           "mc_table", "overlay_image", "check_checkpoint_normalize", "MC_TABLE_COLUMNS",
           "HDOG_FIELDS"]

#: Fields of :class:`SegmentParams` that set the blob segmentation (:meth:`SegmentParams.hdog_kwargs`).
HDOG_FIELDS = ("sigma_min", "sigma_max", "k", "dog_threshold", "overlap", "h_thr", "hessian_rule")

#: Columns of :func:`mc_table`, the MCs a segmentation found (``x`` = column, ``y`` = row, in
#: pixels); the generator's ground truth has :data:`hdogreg.data.synth.MC_TRUTH_COLUMNS`.
MC_TABLE_COLUMNS = ["label", "x", "y", "area_px", "area_mm2", "major_axis_mm", "minor_axis_mm",
              "mean_intensity", "score"]


@dataclass(frozen=True)
class SegmentParams:
    """Parameters of the whole pipeline, defaulting to the paper's choices.

    Attributes
    ----------
    sigma_min, sigma_max, k, dog_threshold, overlap, h_thr : float
        Blob segmentation (Eq. 1-6): 1.18, 3.1, 1.6, 0.006, O_DoG = 1, 1.4.
    hessian_rule : {"code", "paper"}
        Reading of Eq. 6 (:func:`hdogreg.hessian.hessian_constraint`); default
        :data:`hdogreg.hessian.DEFAULT_RULE` (``"code"``, the authors' code).
    p_thr : float
        Threshold of the predicted proximity map; :data:`hdogreg.fusion.DEFAULT_P_THR` (the authors' code)
        unless chosen on validation data.
    o_thr : float
        Overlap threshold of the fusion; the paper chose 0.3 on validation.
    window, stride, batch_size : int
        Sliding-window inference (the authors: 512-px windows, stride 256).
    breast_erosion : int
        Side of the square by which the breast mask is eroded before the fusion (authors'
        code: 45 px): the map is set to 0 outside the eroded mask, so that candidates along
        the bright skin line are dropped. 0 disables the erosion.
    fill_holes : bool
        Fill holes of the kept objects (authors' code).
    normalize : {"none", "noise", "equalize", "noise_psd"}
        Intensity standardisation (:func:`hdogreg.standardize.standardize`) of the image both
        branches see. ``"noise"`` (default, :data:`hdogreg.standardize.DEFAULT_METHOD`): breast
        median and fine-scale noise mapped to reference values, so that the result is
        invariant to ``a * image + b`` (``a > 0``); ``"equalize"``: the same after the
        image's noise-equalising grey-level map (also steady under tone curves);
        ``"noise_psd"``: ``"noise"`` with the noise of an image resampled from another pixel
        spacing corrected for the resampling (:func:`hdogreg.standardize.resampling_noise_factor`);
        the network must have been trained with the same option (``TrainConfig.normalize``;
        see :func:`check_checkpoint_normalize`). ``"none"``: the paper's raw scale, on which
        ``dog_threshold`` and ``p_thr`` are absolute numbers (Eq. 4 as published).
    """

    sigma_min: float = 1.18
    sigma_max: float = 3.1
    k: float = 1.6
    dog_threshold: float = 0.006
    overlap: float = 1.0
    h_thr: float = 1.4
    hessian_rule: str = DEFAULT_RULE
    p_thr: float = DEFAULT_P_THR
    o_thr: float = 0.3
    window: int = 512
    stride: int = 256
    batch_size: int = 4
    breast_erosion: int = 45
    fill_holes: bool = True
    normalize: str = DEFAULT_METHOD

    def __post_init__(self):
        from hdogreg.standardize import check_method

        check_method(self.normalize, "normalize")
        check_choice("hessian_rule", self.hessian_rule, RULES)
        if self.breast_erosion < 0:
            raise ValueError(f"breast_erosion must be >= 0, got {self.breast_erosion}")
        check_unit_interval("o_thr", self.o_thr)
        check_dog_threshold(self.dog_threshold)
        if np.isnan(self.p_thr):
            raise ValueError(f"p_thr must be a number, got {self.p_thr}")

    #: Fields a checkpoint's settings may carry, chosen with its training (:meth:`from_checkpoint`).
    CHECKPOINT_FIELDS = ("normalize", "dog_threshold", "p_thr", "o_thr")

    @classmethod
    def from_checkpoint(cls, settings, **overrides):
        """Parameters for a network: its standardisation and validated operating point.

        Parameters
        ----------
        settings : dict
            The checkpoint's settings (:func:`hdogreg.regression.load_checkpoint`). Of
            :attr:`CHECKPOINT_FIELDS`, those present are used: ``normalize`` (absent: the raw
            scale ``"none"``, as before the option existed), and the operating point chosen on
            validation data (``dog_threshold``, ``p_thr``, ``o_thr``; absent: the defaults).
        **overrides
            Further fields; a None value keeps the checkpoint's (or default) value.

        Returns
        -------
        SegmentParams

        Raises
        ------
        ValueError
            If a setting of the checkpoint that no override replaces is not a number
            (``p_thr`` and ``o_thr``: in [0, 1]), naming the setting.

        Examples
        --------
        >>> p = SegmentParams.from_checkpoint({"normalize": "noise", "dog_threshold": 0.004,
        ...                                    "p_thr": 0.2}, o_thr=None, stride=384)
        >>> p.normalize, p.dog_threshold, p.p_thr, p.o_thr, p.stride
        ('noise', 0.004, 0.2, 0.3, 384)
        >>> SegmentParams.from_checkpoint({}).normalize
        'none'
        """
        settings = settings or {}
        fields = {"normalize": str(settings.get("normalize", "none"))}
        for name in cls.CHECKPOINT_FIELDS[1:]:
            value = settings.get(name)
            if value is None or overrides.get(name) is not None:
                continue
            # p_thr, o_thr: thresholds of a map and of an overlap fraction
            check = check_unit_interval if name in ("p_thr", "o_thr") else check_finite
            check(f"setting {name!r}", value)
            fields[name] = float(value)
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**fields)

    def hdog_kwargs(self):
        """Keyword arguments of :func:`hdogreg.hdog.hdog_segment`: the fields :data:`HDOG_FIELDS`."""
        return {name: getattr(self, name) for name in HDOG_FIELDS}

    def inference_kwargs(self):
        """Keyword arguments of :func:`hdogreg.inference.predict_proximity`."""
        return {"window": self.window, "stride": self.stride, "batch_size": self.batch_size}

    def replace(self, **changes):
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass
class SegmentationResult:
    """Every intermediate of :func:`segment_mammogram` (the panels of Fig. 1).

    The two branches and the fusion run on the *native grid* (0.07 mm per pixel,
    ``native_spacing``); the final objects and their table are on the *input grid* (the
    image as given, ``pixel_spacing``). For an image at 0.07 mm both grids are the same and
    no resampling takes place (:attr:`resampled` is False, ``output is fusion``).

    Attributes
    ----------
    hdog : HDoGResult
        Candidate objects of the blob segmentation (upper branch). Native grid.
    pmap : (h, w) ndarray of float32
        Predicted proximity map (lower branch), 0 outside the breast. Native grid.
    breast : (H, W) ndarray of bool
        Breast mask: the one given, else :func:`hdogreg.breast.breast_mask` of the image on
        the native grid mapped back. Input grid.
    region : (h, w) ndarray of bool
        Eroded breast mask (:func:`fusion_region`): the map is set to 0 outside it before
        the fusion (:attr:`fusion_map`). Native grid.
    fusion : FusionResult
        Kept objects (``labels`` 1..m, ``scores``; ``source_labels`` are labels of
        ``hdog.labels``). Native grid.
    table : pandas.DataFrame
        One row per kept MC (:func:`mc_table`), in input pixels and ``pixel_spacing``.
    params : SegmentParams
    pixel_spacing : float
        mm per pixel of the input, used for the table.
    native_spacing : float
        mm per pixel of the native grid (0.07).
    native_breast : (h, w) ndarray of bool
        Breast mask used for the inference. Native grid (``breast`` itself if not resampled).
    output : FusionResult
        ``fusion`` mapped onto the input grid (:func:`hdogreg.spacing.labels_to_input`; same
        ids, ``scores`` and ``source_labels``; ``mask`` is ``labels > 0``; an object closer
        than one input pixel to others may lose all its pixels and is then absent from
        ``labels`` and ``table``). ``fusion`` itself if not resampled.
    """

    hdog: object
    pmap: np.ndarray
    breast: np.ndarray
    region: np.ndarray
    fusion: FusionResult
    table: pd.DataFrame
    params: SegmentParams
    pixel_spacing: float
    native_spacing: float = _spacing.NATIVE_SPACING
    native_breast: np.ndarray | None = None
    output: FusionResult | None = None

    def __post_init__(self):
        if self.native_breast is None:
            self.native_breast = self.breast
        if self.output is None:
            self.output = self.fusion

    @property
    def resampled(self):
        """True if the image was resampled to the native grid (its spacing is not 0.07 mm)."""
        return self.output is not self.fusion

    @property
    def input_shape(self):
        """Shape of the input grid."""
        return self.output.labels.shape

    @property
    def labels(self):
        """Final label image (1..m) on the input grid."""
        return self.output.labels

    @property
    def mask(self):
        """Final segmentation mask on the input grid."""
        return self.output.mask

    @property
    def fusion_map(self):
        """The map the fusion thresholds: ``pmap`` inside ``region``, 0 outside (native grid)."""
        return np.where(self.region, self.pmap, np.float32(0))

    def candidates(self):
        """Every HDoG candidate with its score (``fuse`` at ``p_thr = -inf``), for FROC sweeps.

        Object ``j`` of the returned labels is in the final output at threshold ``p`` iff
        ``scores[j - 1] >= p`` (pass ``labels`` and ``scores`` to
        :func:`hdogreg.metrics.froc_counts`). Candidates outside ``region`` score 0. On the
        input grid, like :attr:`labels` (mapped as :attr:`output` is).
        """
        cand = fuse(self.hdog.labels, self.fusion_map, -np.inf, self.params.o_thr,
                    fill_holes=self.params.fill_holes)
        if not self.resampled:
            return cand
        return _to_input(cand, self.input_shape)


def _to_input(fused, shape):
    """Return a FusionResult with its labels mapped onto the input grid of `shape`."""
    labels = _spacing.labels_to_input(fused.labels, shape)
    return FusionResult(mask=labels > 0, labels=labels, scores=fused.scores,
                        source_labels=fused.source_labels)


def fusion_region(breast, erosion=45):
    """Erode the breast mask by a square of side `erosion` (the authors' 45 px).

    The image border is not treated as background (a breast touching the chest-wall edge
    keeps its pixels there). ``erosion`` 0 or 1 returns a copy of the mask.
    """
    breast = np.asarray(breast, dtype=bool)
    if erosion < 0:
        raise ValueError(f"erosion must be >= 0, got {erosion}")
    if erosion <= 1:
        return breast.copy()
    # Separable minimum filter = binary erosion by a square, with a nearest-edge border.
    return ndi.minimum_filter(breast.view(np.uint8), size=erosion, mode="nearest").astype(bool)


@dataclass(frozen=True)
class NativeInput:
    """An image as both branches see it: on the native grid, standardised, with its breast.

    Attributes
    ----------
    image : (h, w) ndarray of float
        The input resampled to ``native_spacing`` (if needed) and standardised
        (``normalize``).
    breast : (h, w) ndarray of bool
        Breast mask on the native grid.
    pixel_spacing, native_spacing : float
        mm per pixel of the input and of the native grid.
    input_shape : (int, int)
        Shape of the input image.
    """

    image: np.ndarray
    breast: np.ndarray
    pixel_spacing: float
    native_spacing: float
    input_shape: tuple

    @property
    def resampled(self):
        """True if the input was resampled (its spacing is not the native one)."""
        return not _spacing.is_native(self.pixel_spacing, self.native_spacing)

    def labels_to_input(self, labels):
        """Map a native-grid label image onto the input grid (identity if not resampled)."""
        if not self.resampled:
            return labels
        return _spacing.labels_to_input(labels, self.input_shape)

    def breast_to_input(self):
        """Return the breast mask on the input grid."""
        if not self.resampled:
            return self.breast
        return _spacing.nearest_resize(self.breast, self.input_shape)


def native_input(image, normalize=DEFAULT_METHOD, *, breast=None, pixel_spacing=None,
                 native_spacing=_spacing.NATIVE_SPACING):
    """Prepare an image for both branches: resample to 0.07 mm, find the breast, standardise.

    The one place where the method's input conventions live; :func:`segment_mammogram`, the
    evaluation (:func:`hdogreg.evaluation.score_split`) and the comparison methods call it, so
    they all see an image the same way.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram (bright breast on a dark background).
    normalize : {"noise", "equalize", "none"}, optional
        :func:`hdogreg.standardize.standardize` method.
    breast : (H, W) array_like of bool, optional
        Breast mask on the input grid (resampled by nearest neighbour); default
        :func:`hdogreg.breast.breast_mask` on the native grid - of ``image - min`` unless
        ``normalize="none"`` (:func:`hdogreg.standardize.standardize_breast_mask`).
    pixel_spacing : float, optional
        mm per pixel of `image` (default: `native_spacing`); must be plausible
        (:func:`hdogreg.spacing.check_pixel_spacing`).
    native_spacing : float, optional
        The method's spacing, 0.07 mm.

    Returns
    -------
    NativeInput

    Raises
    ------
    ValueError
        Implausible spacing, a `breast` of another shape, an unknown `normalize`.

    Examples
    --------
    >>> img = np.zeros((140, 100), np.float32); img[20:120, :60] = 0.2
    >>> img += np.random.default_rng(0).normal(0, 0.002, img.shape).astype(np.float32)
    >>> nat = native_input(img, pixel_spacing=0.14)
    >>> nat.image.shape, nat.resampled
    ((280, 200), True)
    """
    from hdogreg.standardize import check_method

    check_method(normalize, "normalize")
    native_spacing = _spacing.check_pixel_spacing(native_spacing, name="native_spacing")
    pixel_spacing = native_spacing if pixel_spacing is None else pixel_spacing
    pixel_spacing = _spacing.check_pixel_spacing(pixel_spacing, name="pixel_spacing")
    image = check_image(image)
    if breast is not None:
        breast = np.asarray(breast, dtype=bool)
        if breast.shape != image.shape:
            raise ValueError(f"breast mask shape {breast.shape} differs from image shape "
                             f"{image.shape}")
    if _spacing.is_native(pixel_spacing, native_spacing):
        work, work_breast = image, breast
    else:
        work = _spacing.to_native(image, pixel_spacing, native_spacing)
        work_breast = None if breast is None else _spacing.nearest_resize(breast, work.shape)
    if work_breast is None:
        if normalize == "none":
            from hdogreg.breast import breast_mask

            work_breast = np.asarray(breast_mask(work), dtype=bool)
        else:
            work_breast = standardize_breast_mask(work)
    if normalize != "none":
        work = standardize(work, work_breast, method=normalize, source_spacing=pixel_spacing)
    return NativeInput(work, work_breast, float(pixel_spacing),
                       float(native_spacing), tuple(image.shape))


def segment_mammogram(image, model, params=None, *, breast=None, pixel_spacing=None,
                      progress=True, native_spacing=_spacing.NATIVE_SPACING, settings=None):
    """Segment the microcalcifications of one mammogram (Fig. 1).

    Parameters
    ----------
    image : (H, W) array_like or Mammogram
        Image as float in [0, 1] (the package's intensity scale), or a
        :class:`hdogreg.data.Mammogram`, whose ``pixel_spacing`` is then used.
    model : torch.nn.Module
        Regression network (:func:`hdogreg.regression.load_checkpoint`).
    params : SegmentParams, optional
        Defaults to ``SegmentParams()`` (the paper's values).
    breast : (H, W) array_like of bool, optional
        Breast mask on the input grid; computed with :func:`hdogreg.breast.breast_mask` (on the
        native grid) if not given - with ``params.normalize != "none"`` of ``image - min``
        (:func:`hdogreg.standardize.standardize_breast_mask`, invariant to an offset).
    pixel_spacing : float, optional
        mm per pixel of `image`; default the Mammogram's, else 0.07 (INbreast). Must be
        plausible (0.02-0.5 mm, :func:`hdogreg.spacing.check_pixel_spacing`).
    progress : bool, optional
        Progress bar of the sliding-window inference.
    native_spacing : float, optional
        mm per pixel at which the method's scales (HDoG sigmas in px, breast erosion, the
        network) are defined: 0.07, the paper's and INbreast's.
    settings : dict, optional
        Settings of `model`'s checkpoint (:func:`hdogreg.regression.load_checkpoint`). If
        given, the standardisation it was trained with must be ``params.normalize``
        (:func:`check_checkpoint_normalize`; a mismatch raises ValueError).

    Returns
    -------
    SegmentationResult
        ``labels``, ``mask``, ``breast`` and ``table`` on the input grid (table in input
        pixels and mm); ``hdog``, ``pmap``, ``region``, ``fusion`` on the native grid.

    Raises
    ------
    ValueError
        Implausible or non-finite `pixel_spacing`, a `breast` mask of another shape, or
        `settings` trained with another ``normalize`` than ``params.normalize``.

    Notes
    -----
    If `pixel_spacing` differs from `native_spacing` (by more than 1e-6 mm), the image is
    resampled to it with anti-aliasing (:func:`hdogreg.spacing.to_native`) and a given breast
    mask by nearest neighbour; both branches and the fusion run there; the kept objects are
    mapped back onto the input grid (:func:`hdogreg.spacing.labels_to_input`: ids and scores
    kept; an object smaller than an input pixel becomes one input pixel) and measured on the
    input image (:func:`mc_table`). At the native spacing nothing is resampled and the result
    is the direct computation on the image.

    With ``params.normalize != "none"`` the image on the native grid is standardised once
    (:func:`hdogreg.standardize.standardize`, with the breast mask used by the inference), and
    both the HDoG branch and the network see the standardised image; ``mean_intensity`` of the
    table is still measured on the input image. With ``"noise"`` the label image is then the
    same for ``a * image + b`` (any ``a > 0``, ``b``) up to float rounding: peaks within
    rounding of a threshold may flip. ``"none"`` gives exactly the raw-scale computation.
    """
    from hdogreg.hdog import hdog_segment

    params = SegmentParams() if params is None else params
    if settings is not None:
        check_checkpoint_normalize(settings, params)
    if hasattr(image, "image") and hasattr(image, "pixel_spacing"):
        if pixel_spacing is None:
            pixel_spacing = image.pixel_spacing
        image = image.image
    image = check_image(image)
    nat = native_input(image, params.normalize, breast=breast, pixel_spacing=pixel_spacing,
                       native_spacing=native_spacing)
    pixel_spacing, native_spacing = nat.pixel_spacing, nat.native_spacing
    work, work_breast, resample = nat.image, nat.breast, nat.resampled

    hdog = hdog_segment(work, **params.hdog_kwargs())
    pmap = predict_proximity(model, work, mask=work_breast, progress=progress,
                             **params.inference_kwargs())
    region = fusion_region(work_breast, params.breast_erosion)
    fused = fuse(hdog.labels, np.where(region, pmap, np.float32(0)), params.p_thr, params.o_thr,
                 fill_holes=params.fill_holes)
    if resample:
        output = _to_input(fused, image.shape)
        if breast is None:
            breast = nat.breast_to_input()
    else:
        output, breast = fused, work_breast
    table = mc_table(output.labels, image, pixel_spacing, output.scores)
    return SegmentationResult(hdog=hdog, pmap=pmap, breast=breast, region=region, fusion=fused,
                              table=table, params=params, pixel_spacing=pixel_spacing,
                              native_spacing=native_spacing, native_breast=work_breast,
                              output=output)


def check_checkpoint_normalize(settings, params, *, name="checkpoint"):
    """Raise if a checkpoint was trained with another standardisation than `params` use.

    A network trained on raw-scale patches sees other numbers on standardised images and vice
    versa; its proximity map (and ``p_thr``) would then be meaningless, so a mismatch is an
    error, not a warning. A checkpoint without a recorded ``normalize`` (written before the
    option existed) was trained with ``"none"``.

    Parameters
    ----------
    settings : dict
        The checkpoint's settings (:func:`hdogreg.regression.load_checkpoint`).
    params : SegmentParams
    name : str, optional
        What to call the checkpoint in the message (e.g. its path).

    Raises
    ------
    ValueError
        If ``settings["normalize"]`` (default ``"none"``) differs from ``params.normalize``.

    Examples
    --------
    >>> check_checkpoint_normalize({"normalize": "noise"}, SegmentParams(normalize="noise"))
    >>> check_checkpoint_normalize({}, SegmentParams(normalize="noise"))
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: trained with normalize='none', params.normalize='noise'; match it or retrain
    """
    trained = (settings or {}).get("normalize", "none")
    if trained != params.normalize:
        raise ValueError(f"{name}: trained with normalize={trained!r}, params.normalize="
                         f"{params.normalize!r}; match it or retrain")


def mc_table(labels, image, pixel_spacing, scores=None):
    """One row per microcalcification: position, size, shape and intensity.

    Parameters
    ----------
    labels : (H, W) array_like of int
        Label image, objects ``1..m`` (e.g. ``FusionResult.labels``).
    image : (H, W) array_like of float
        The mammogram (intensity scale [0, 1]).
    pixel_spacing : float
        mm per pixel.
    scores : (m,) array_like of float, optional
        ``scores[l - 1]`` for label ``l`` (``FusionResult.scores``); NaN if not given.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`MC_TABLE_COLUMNS`: ``label``; centroid ``x`` (column) and ``y`` (row) in
        pixels; ``area_px``; ``area_mm2``; ``major_axis_mm`` and ``minor_axis_mm`` (lengths of
        the axes of the ellipse with the same second moments,
        :func:`skimage.measure.regionprops`); ``mean_intensity`` (mean image value over the
        object); ``score``. Zero rows if there is no object.

    Examples
    --------
    >>> lab = np.zeros((5, 6), int); lab[1:3, 1:5] = 1
    >>> t = mc_table(lab, np.full((5, 6), 0.5), 0.1, [0.8])
    >>> t[["label", "x", "y", "area_px", "area_mm2", "mean_intensity", "score"]].round(6).to_numpy().tolist()
    [[1.0, 2.5, 1.5, 8.0, 0.08, 0.5, 0.8]]
    """
    from skimage.measure import regionprops_table

    labels = np.asarray(labels)
    image = check_image(image)
    if labels.shape != image.shape:
        raise ValueError(f"labels shape {labels.shape} differs from image shape {image.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer label image, got dtype {labels.dtype}")
    if not pixel_spacing > 0:
        raise ValueError(f"pixel_spacing must be > 0 mm, got {pixel_spacing}")
    n = int(labels.max(initial=0))
    if scores is None:
        scores = np.full(n, np.nan)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size != n:
        raise ValueError(f"scores must have one entry per label 1..{n}, got {scores.size}")
    if n == 0 or not (labels > 0).any():
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("label", "area_px") else "float64")
                             for c in MC_TABLE_COLUMNS})
    props = regionprops_table(
        labels, intensity_image=image,
        properties=("label", "centroid", "area", "axis_major_length", "axis_minor_length",
                    "intensity_mean"),
    )
    lab = props["label"].astype(np.int64)
    area = props["area"].astype(np.int64)
    return pd.DataFrame({
        "label": lab,
        "x": props["centroid-1"],
        "y": props["centroid-0"],
        "area_px": area,
        "area_mm2": area * pixel_spacing ** 2,
        "major_axis_mm": props["axis_major_length"] * pixel_spacing,
        "minor_axis_mm": props["axis_minor_length"] * pixel_spacing,
        "mean_intensity": props["intensity_mean"],
        "score": scores[lab - 1],
    }, columns=MC_TABLE_COLUMNS)


def overlay_image(image, labels, *, breast=None, color=(255, 0, 0)):
    """Draw an RGB picture of the mammogram with the outlines of the segmented objects.

    Parameters
    ----------
    image : (H, W) array_like of float
        The mammogram; displayed with a robust contrast window
        (:func:`hdogreg.viz.display_range`, inside `breast` if given).
    labels : (H, W) array_like of int or bool
        Objects to outline.
    breast : (H, W) array_like of bool, optional
    color : tuple of int, optional
        RGB colour of the outlines.

    Returns
    -------
    rgb : (H, W, 3) ndarray of uint8
        For display only; the analysis never uses 8-bit images. Each object is outlined by
        the background pixels touching it, diagonals included, so the object itself stays
        visible.
    """
    from hdogreg.viz import display_range

    image = check_image(image)
    labels = np.asarray(labels)
    if labels.shape != image.shape:
        raise ValueError(f"labels shape {labels.shape} differs from image shape {image.shape}")
    lo, hi = display_range(image, None if breast is None else np.asarray(breast, bool))
    grey = np.clip((image - lo) / (hi - lo), 0, 1)
    grey = np.round(grey * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    objects = labels > 0
    # Background pixels with an object among their 8 neighbours (3x3 dilation, separable).
    edges = ndi.maximum_filter(objects.view(np.uint8), size=3).astype(bool) & ~objects
    rgb[edges] = np.asarray(color, np.uint8)
    return rgb
