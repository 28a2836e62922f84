"""Comparison methods of the paper ("Comparison Methods").

* :mod:`hdogreg.baselines.ciecholewski` -- morphological MC segmentation of Ciecholewski (2017),
  the segmentation baseline of Table 3 and Fig. 4.
* :mod:`hdogreg.baselines.wang_yang` -- context-sensitive MC detector of Wang & Yang (2018),
  the detection baseline of Fig. 5.
* :mod:`hdogreg.baselines.local_contrast` -- not in the paper: DoG blobs ranked by their local
  contrast, the unlearned yardstick a learned ranking must beat (robustness study).

Submodules are imported explicitly (``from hdogreg.baselines.wang_yang import ...``) so that
importing this package does not import torch.
"""
