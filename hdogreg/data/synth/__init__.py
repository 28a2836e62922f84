"""Synthetic INbreast-format benchmark: mammograms with exactly known microcalcifications.

No mammogram data set can be downloaded where this project is built, so the book runs on
a deterministic generator calibrated to statistics measured on real mammograms
(:mod:`hdogreg.data.real_targets`, checked by ``benchmarks/bench_realism.py``). It writes
INbreast's on-disk layout (``AllDICOMs/``, ``AllXML/``, ``INbreast.csv``) so that one
reader serves both, and keeps the exact ground truth beside it.

The stages, one module each:

* :mod:`.texture` - power-law and oriented (fibrous) Gaussian random fields;
* :mod:`.anatomy` - breast outline, thickness, fibroglandular tissue, fine strands,
  Cooper's ligaments, ducts and vessels, skin, pectoral muscle, lymph nodes;
* :mod:`.calcifications` - counts, sizes, shapes, conspicuity and annotation of MCs;
* :mod:`.acquisition` - detector MTF, Poisson-Gaussian noise with its NPS, vendor looks
  (Siemens 14-bit raw-like, Hologic 12-bit processed, GE 14-bit processed, digitised
  film), bit depth, burnt-in labels, markers and collimation;
* :mod:`.mammogram` - one full-field image or magnification view;
* :mod:`.writers` - DICOM, INbreast XML and PNG writers;
* :mod:`.benchmark` - presets and the whole benchmark folder.
"""

GENERATOR_VERSION = "2.0"

from .acquisition import VENDORS, Acquisition, Vendor, draw_acquisition  # noqa: E402
from .anatomy import breast_geometry  # noqa: E402
from .benchmark import PRESETS, Preset, generate  # noqa: E402
from .calcifications import MC_TYPES  # noqa: E402
from .mammogram import MC_TRUTH_COLUMNS, SPACING, SynthImage, synth_magnification, synth_mammogram  # noqa: E402
from .texture import oriented_field, powerlaw_field  # noqa: E402
from .writers import write_dicom, write_inbreast_xml  # noqa: E402

__all__ = ["GENERATOR_VERSION", "Preset", "PRESETS", "Vendor", "VENDORS", "Acquisition",
           "draw_acquisition", "MC_TYPES", "MC_TRUTH_COLUMNS", "SPACING", "SynthImage",
           "powerlaw_field", "oriented_field", "breast_geometry", "synth_mammogram",
           "synth_magnification", "write_dicom", "write_inbreast_xml", "generate"]
