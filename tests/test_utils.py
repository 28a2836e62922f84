"""`hdogreg._utils.atomic_path`: outputs are written whole or not at all."""

import pytest

from hdogreg._utils import atomic_path, missing_file_message, one_line


def test_success_moves_the_file_into_place_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        assert tmp.suffix == ".csv" and tmp.name.startswith(".out.csv.")  # hidden, same format
        tmp.write_text("a,b\n1,2\n")
        assert not target.exists()          # nothing visible until the body finishes
    assert target.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_success_replaces_an_existing_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_success_creates_missing_parent_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with atomic_path(str(target)) as tmp:
        tmp.write_text("x")
    assert target.read_text() == "x"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_leaves_the_target_untouched_and_no_temporary_file(tmp_path, error):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(error, match="half written"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise error("half written")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_an_error_creates_no_target(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError):
        with atomic_path(target):
            raise ValueError("no output")
    assert list(tmp_path.iterdir()) == []


def test_an_error_after_the_body_removed_its_temporary_file_is_still_raised(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(OSError, match="gone"):
        with atomic_path(target) as tmp:
            tmp.unlink()
            raise OSError("gone")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ code and model digests


def _package_copy(tmp_path, monkeypatch):
    """A throw-away package ``hdogreg`` whose modules import each other, for source_digest."""
    import hdogreg._utils as utils

    pkg = tmp_path / "hdogreg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from hdogreg import c\n")  # import in a function
    (pkg / "c.py").write_text("X = 1\n")
    (pkg / "d.py").write_text("Y = 1\n")  # imported by nobody
    monkeypatch.setattr(utils, "__file__", str(pkg / "_utils.py"))
    return pkg


def test_source_digest_follows_imports_and_only_them(tmp_path, monkeypatch):
    from hdogreg._utils import source_digest

    pkg = _package_copy(tmp_path, monkeypatch)
    before = source_digest("hdogreg.a")
    (pkg / "d.py").write_text("Y = 2\n")
    assert source_digest("hdogreg.a") == before  # not imported: not part of the key
    (pkg / "c.py").write_text("X = 2\n")
    assert source_digest("hdogreg.a") != before  # imported inside a function of an import
    with pytest.raises(ValueError, match="hdogreg.nothing"):
        source_digest("hdogreg.nothing")


def test_model_digest_depends_on_the_weights_only():
    torch = pytest.importorskip("torch")
    from hdogreg._utils import model_digest

    torch.manual_seed(0)
    a = torch.nn.Conv2d(1, 1, 3)
    b = torch.nn.Conv2d(1, 1, 3)
    b.load_state_dict(a.state_dict())
    assert model_digest(a) == model_digest(b)
    with torch.no_grad():
        b.bias += 1
    assert model_digest(a) != model_digest(b)


def test_atomic_file_gets_the_umask_permissions(tmp_path):
    import os

    from hdogreg._utils import current_umask

    previous = os.umask(0o077)
    current_umask.cache_clear()
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
        os.umask(0o002)
        current_umask.cache_clear()
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(previous)
        current_umask.cache_clear()
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o664


def test_one_line_joins_the_lines_so_no_message_ends_on_a_colon():
    assert one_line("Unable to decode, all plugins failed:\n  pyjpegls: bad stream\n\n") == \
        "Unable to decode, all plugins failed: pyjpegls: bad stream"
    assert one_line(ValueError("plain")) == "plain"


def test_missing_file_message_tells_a_folder_from_a_missing_file(tmp_path):
    assert missing_file_message(tmp_path / "no.dcm") == f"{tmp_path / 'no.dcm'}: file not found"
    assert missing_file_message(tmp_path, "manifest") == f"{tmp_path}: is a folder, expected a manifest"
    assert missing_file_message(tmp_path, "image file") == f"{tmp_path}: is a folder, expected an image file"


def test_torch_save_gives_the_same_bytes_for_the_same_tensors(tmp_path):
    import torch

    from hdogreg._utils import torch_save

    state = {"w": torch.arange(6, dtype=torch.float16).reshape(2, 3)}
    a, b = torch_save(state, tmp_path / "a.pt"), torch_save(state, tmp_path / "sub" / "b.pt")
    assert a.read_bytes() == b.read_bytes()          # no temporary file name inside the archive
    assert torch.equal(torch.load(b, weights_only=True)["w"], state["w"])
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.pt", "b.pt", "sub"]
    torch_save({"w": state["w"] + 1}, a)
    assert a.read_bytes() != b.read_bytes()
