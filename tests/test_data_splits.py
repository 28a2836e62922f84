"""Patient-wise splits with the paper's proportions."""

import pandas as pd
import pytest

from hdogreg.data import assign_splits, make_splits, read_splits, split_counts, write_splits
from hdogreg.data.records import DataError


def test_paper_counts_are_reproduced():
    assert split_counts(86) == {"train": 51, "val": 17, "test": 18}
    assert sum(split_counts(48).values()) == 48
    assert split_counts(141, {"train": 112, "test": 29}) == {"train": 112, "test": 29}


def test_every_split_gets_a_patient_when_possible():
    assert min(split_counts(4).values()) >= 1


def _table(n_patients=30, views=("CC", "MLO")):
    rows = [{"file_id": f"{p}{v}", "patient_id": f"P{p:03d}"} for p in range(n_patients) for v in views]
    return pd.DataFrame(rows)


def test_splits_are_patient_disjoint_proportional_and_reproducible():
    t = _table()
    s = make_splits(t, seed=3)
    assert s.groupby("patient_id")["split"].nunique().max() == 1
    per_split = s.drop_duplicates("patient_id")["split"].value_counts().to_dict()
    assert per_split == split_counts(30)
    assert make_splits(t, seed=3).equals(s)
    assert not make_splits(t, seed=4)["split"].equals(s["split"])
    assert assign_splits(["b", "a", "a"], seed=0) == assign_splits(["a", "b"], seed=0)


def test_write_read_roundtrip(tmp_path):
    s = make_splits(_table(5), seed=0)
    write_splits(s, tmp_path / "splits.csv")
    assert read_splits(tmp_path / "splits.csv").equals(s)


def test_bad_splits_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_splits(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="bad.csv"):
        read_splits(tmp_path / "bad.csv")
