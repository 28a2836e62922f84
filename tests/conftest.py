import pytest
import torch


class BrightSpots(torch.nn.Module):
    """Stand-in network: 'MC region' where the image is much brighter than its 9x9 mean."""

    def forward(self, x):
        local = torch.nn.functional.avg_pool2d(x, 9, stride=1, padding=4, count_include_pad=False)
        return torch.sigmoid((x - local - 0.01) * 400)


@pytest.fixture(scope="session")
def bright_spots():
    """A :class:`BrightSpots` stand-in for the regression network (no training needed)."""
    return BrightSpots()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The ``tiny`` generated benchmark (seed 0), shared read-only by the whole session."""
    from hdogreg.data.synth import generate

    return generate(tmp_path_factory.mktemp("bench") / "tiny", seed=0, preset="tiny",
                    progress=False)


@pytest.fixture
def torch_one_thread():
    """Run a test with one torch thread (deterministic timing on a shared 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _write_dicom(path, raw, *, bits=12, photometric="MONOCHROME2", **tags):
    """Write a minimal uncompressed 16-bit grey DICOM with the given extra header tags."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.1.2"   # Digital Mammography X-Ray Image
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = "p0"
    ds.Rows, ds.Columns = raw.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(raw, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def make_dicom():
    """``make_dicom(path, raw, bits=12, **tags)``: a small DICOM with chosen header tags,
    e.g. ``PixelSpacing=["0.1", "0.1"]``, ``ImagerPixelSpacing=...``,
    ``EstimatedRadiographicMagnificationFactor="1.1"``."""
    return _write_dicom
