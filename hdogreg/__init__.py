"""hdogreg: Hessian-DoG blob segmentation and proximity regression for breast microcalcifications.

Companion code to Marasinou et al., "Improving the Quantitative Analysis of Breast
Microcalcifications: A Multiscale Approach", J Imaging Inform Med 36(3), 2023.

The package has one module per stage of the paper's Fig. 1; submodules are imported
explicitly (``from hdogreg.hdog import hdog_segment``) so that importing the package stays cheap.
"""

__version__ = "0.1.0"
