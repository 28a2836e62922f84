"""Validators of the method's parameters, shared by the stage modules (scikit-image's ``_shared``).

One function per parameter, one message per parameter, each naming the bad value:
:mod:`hdogreg.scale_space`, :mod:`hdogreg.hessian`, :mod:`hdogreg.hdog`,
:mod:`hdogreg.proximity` and :mod:`hdogreg.training` check their arguments here, so a parameter
passed through several of them is refused with the same words wherever it enters.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_finite", "check_unit_interval", "check_scales", "check_overlap", "check_dog_threshold",
           "check_h_thr", "check_choice", "check_xi", "check_connectivity", "border_width"]


def check_finite(name, value):
    """Raise ValueError unless `value` is a finite real number.

    Examples
    --------
    >>> check_finite("h_thr", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: h_thr must be a finite number, got nan
    """
    if not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def check_unit_interval(name, value):
    """Raise ValueError unless `value` is a real number in [0, 1].

    Examples
    --------
    >>> check_unit_interval("o_thr", 2.0)
    Traceback (most recent call last):
    ...
    ValueError: o_thr must be a number in [0, 1], got 2.0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def check_scales(sigma_min, sigma_max, k):
    """Check the scale range of the scale space: ``0 < sigma_min <= sigma_max``, ``k > 1``."""
    for name, value in (("sigma_min", sigma_min), ("sigma_max", sigma_max), ("k", k)):
        check_finite(name, value)
    if sigma_min <= 0:
        raise ValueError(f"sigma_min must be > 0, got {sigma_min}")
    if sigma_max < sigma_min:
        raise ValueError(f"sigma_max must be >= sigma_min ({sigma_min}), got {sigma_max}")
    if k <= 1:
        raise ValueError(f"k must be > 1, got {k}")


def check_overlap(overlap):
    """Check the blob-overlap threshold O_DoG: a number in [0, 1]."""
    check_unit_interval("overlap", overlap)


def check_dog_threshold(dog_threshold):
    """Check the DoG threshold: a finite number."""
    check_finite("dog_threshold", dog_threshold)


def check_h_thr(h_thr):
    """Check the Hessian threshold of Eq. 6: a finite number."""
    check_finite("h_thr", h_thr)


def check_choice(name, value, choices):
    """Raise ValueError unless `value` is one of `choices`.

    Examples
    --------
    >>> check_choice("rule", "code", ("paper", "code"))
    >>> check_choice("rule", "x", ("paper", "code"))
    Traceback (most recent call last):
    ...
    ValueError: rule must be one of ('paper', 'code'), got 'x'
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_xi(xi):
    """Check the characteristic distance xi of the proximity map (Eq. 8): finite and > 0."""
    if not isinstance(xi, numbers.Real) or not np.isfinite(xi) or xi <= 0:
        raise ValueError(f"xi must be a finite number > 0, got {xi}")


def check_connectivity(connectivity):
    """Check a labelling connectivity: 1 (4-neighbours) or 2 (8-neighbours)."""
    if connectivity not in (1, 2) or isinstance(connectivity, bool):
        raise ValueError(f"connectivity must be 1 (4-neighbours) or 2 (8-neighbours), got {connectivity!r}")


def border_width(exclude_border):
    """``exclude_border`` as a number of pixels (scikit-image semantics: False or an int >= 0)."""
    if exclude_border is False:
        return 0
    if exclude_border is True or not isinstance(exclude_border, numbers.Integral) or exclude_border < 0:
        raise ValueError(f"exclude_border must be False or an int >= 0, got {exclude_border!r}")
    return int(exclude_border)
