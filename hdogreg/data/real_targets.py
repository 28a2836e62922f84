"""Statistics measured on real mammograms: the targets of the synthetic benchmark.

These numbers were measured on real images that this project does not hold (11 INbreast
FFDMs as windowed 8-bit copies at 0.114-0.140 mm, 8 digitised screening films at 0.05 mm,
and the raw statistics stored in 61 INbreast annotation files), with the estimators of
:mod:`hdogreg.data.realism`. They are facts about real data, quoted here once so that the
benchmark script, the tests and the data page all cite the same values. Nothing in this
module is computed by the package.

Each entry is ``(median, low, high)``: the median over images and the range over images,
or for percentiles ``{percentile: value}``.
"""

from __future__ import annotations

__all__ = ["SOURCE", "SPECTRUM", "DOG_SNR", "BG_TAIL", "INBREAST_ANNOTATIONS", "RAW_LEVELS",
           "TARGETS"]

SOURCE = ("measured on real mammograms (hdogreg project notes, "
          "'What real mammograms look like, in numbers')")

#: Power spectrum inside the breast at 0.14 mm: beta (0.15-1.0 cycles/mm), beta_hi
#: (1.5-3.4 cycles/mm) and the high-frequency excess over the low-frequency power law (dex).
SPECTRUM = {
    "inbreast": {"n_images": 11, "beta": (2.54, 2.12, 3.03), "beta_hi": (1.93, 1.70, 2.68),
                 "excess": (0.45, 0.24, 0.55)},
    "film": {"n_images": 8, "beta": (3.06, 2.76, 3.23), "beta_hi": (2.03, 1.84, 2.19),
             "excess": (0.45, 0.41, 0.61)},
}

#: DoG-SNR of annotated MCs (44 MCs in 4 INbreast images), percentiles.
DOG_SNR = {"n_mcs": 44, "percentiles": {10: 2.4, 25: 3.8, 50: 5.1, 75: 8.6, 90: 12.4}}

#: p99.9 of the fine-scale DoG over the breast interior, in robust sd (a Gaussian: 3.1).
BG_TAIL = (3.75, 3.7, 3.8)

#: INbreast annotation facts (61 files, 470 calcification ROIs).
INBREAST_ANNOTATIONS = {
    "n_files": 61, "n_calcifications": 470, "n_points": 356, "n_contours": 114,
    "per_image_percentiles": {25: 1, 50: 3, 75: 10, 95: 26}, "per_image_max": 96,
    "images_without": (15, 61),
    "point_distance_px": {5: 7, 50: 31},
    "contour_points": (8, 4, 39),
    "contour_longest_side_px": {5: 5.6, 25: 9.6, 50: 13.6, 75: 18.7, 95: 34.0},
    "contour_area_mm2": {5: 0.105, 25: 0.25, 50: 0.53, 75: 1.09, 95: 3.5},
}

#: Raw 14-bit pixel values stored in INbreast ROIs (p5, p50, p95) and on the raw/16383 scale.
RAW_LEVELS = {
    "point_mc": (1186, 1678, 2760),
    "contour_mc_mean": (1429, 2146, 3287),
    "contour_mc_max": (1584, 2796, 3928),
    "mass_mean": (1305, 1828, 2625),
    "tissue_range_01": (0.08, 0.16),
    "mc_peak_range_01": (0.10, 0.24),
}

#: Acceptance ranges of ``benchmarks/bench_realism.py`` for the generator (issue 12).
TARGETS = {
    "beta_hi": (1.6, 2.8),
    "excess": (0.2, 0.6),
    "snr_p50": (3.5, 7.5),
    "snr_p10": (None, 3.5),
    "bg_tail": (None, 5.5),
    "level14": (0.06, 0.2),
}
