"""The notebook runner: toc parsing, parameters, content-hash caching, reproducing page."""

import json

import pandas as pd
import pytest

from hdogreg import book

TOY = '''# %% [markdown]
# # Toy page

# %% tags=["parameters"]
n = 3
label = "a"

# %%
from hdogreg.book import save_results
import pandas as pd
save_results(pd.DataFrame({"i": range(n), "label": label}), "toy")
'''


@pytest.fixture
def toy_book(tmp_path, monkeypatch):
    src = tmp_path / "notebooks"
    src.mkdir()
    (src / "toy.py").write_text(TOY)
    monkeypatch.setattr(book, "NOTEBOOK_SOURCES", src)
    monkeypatch.setenv("HDOGREG_BUILD", str(tmp_path / "build"))
    monkeypatch.delenv("HDOGREG_RESULTS", raising=False)
    return tmp_path


def test_book_notebooks_reads_toc_in_order(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: build/notebooks/b_second\n"
        "      - file: book/page\n  - caption: B\n    chapters:\n"
        "      - file: build/notebooks/a_first\n"
    )
    assert book.book_notebooks(toc) == ["b_second", "a_first"]


def test_run_writes_results_and_meta_then_caches(toy_book):
    first = book.run_notebook("toy", {"n": 2})
    assert not first.skipped
    out = toy_book / "build" / "results" / "toy.csv"
    assert pd.read_csv(out).shape == (2, 2)
    meta = json.loads((toy_book / "build" / "notebooks" / "toy.meta.json").read_text())
    assert meta["parameters"] == {"n": 2, "label": "a"}
    assert meta["version"] == book.__version__

    again = book.run_notebook("toy", {"n": 2})
    assert again.skipped and again.hash == first.hash

    changed = book.run_notebook("toy", {"n": 4})
    assert not changed.skipped and changed.hash != first.hash
    assert pd.read_csv(out).shape == (4, 2)


def test_parameter_cells_are_hidden_in_output(toy_book):
    import nbformat

    book.run_notebook("toy", {"n": 1})
    nb = nbformat.read(toy_book / "build" / "notebooks" / "toy.ipynb", as_version=4)
    tagged = [c.metadata.get("tags", []) for c in nb.cells]
    assert ["parameters", "hide-cell"] in tagged
    assert any("injected-parameters" in t and "hide-cell" in t for t in tagged)


def test_source_edit_invalidates_cache(toy_book):
    book.run_notebook("toy")
    (toy_book / "notebooks" / "toy.py").write_text(TOY.replace("n = 3", "n = 5"))
    rec = book.run_notebook("toy")
    assert not rec.skipped and rec.parameters["n"] == 5


def test_missing_notebook_is_a_clear_error(toy_book):
    with pytest.raises(FileNotFoundError, match="nope.py"):
        book.run_notebook("nope")


def test_failed_notebook_leaves_no_output(toy_book):
    import papermill

    (toy_book / "notebooks" / "bad.py").write_text(TOY + "\nraise RuntimeError('boom')\n")
    with pytest.raises(papermill.PapermillExecutionError):
        book.run_notebook("bad")
    assert not (toy_book / "build" / "notebooks" / "bad.ipynb").exists()


def test_kernel_talks_over_ipc_without_the_tcp_warning(toy_book, capfd):
    # ipykernel logs "Kernel is running over TCP without encryption" to the runner's stderr
    # (fd 2, inherited by the kernel process) whenever a kernel is started over TCP.
    assert book._kernel_config().KernelManager.transport == "ipc"
    capfd.readouterr()
    book.run_notebook("toy", {"n": 1}, force=True)
    err = capfd.readouterr().err
    assert "without encryption" not in err
    assert "WARNING" not in err
    assert not list(toy_book.glob("*ipc*")) and not list(book.ROOT.glob("kernel-*ipc*"))


def test_reproducing_page_lists_every_run(tmp_path):
    rec = book.RunRecord(name="fig9", parameters={"xi": 8}, hash="h", seconds=1.25,
                         version="0.1.0", commit="abc", executed_at="now", output="x")
    page = book.write_reproducing_page([rec], tmp_path / "reproducing.md")
    text = page.read_text()
    assert "| fig9 | `xi=8` | 1.2 | 0.1.0 | `abc` | now |" in text
    assert text.startswith("# Reproducing this book")


def test_reproducing_page_prints_the_environment_and_the_lock_check(tmp_path):
    import platform

    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\nnumpy==0.0.1\n")          # numpy is installed, not at 0.0.1
    lines = book.environment_lines(lock)
    text = "\n".join(lines)
    assert f"Python {platform.python_version()}" in text
    assert "| numpy | " in text and "| torch | " in text
    assert "1 installed version(s) differ" in text and "numpy 0.0.1" in text
    import numpy

    lock.write_text(f"numpy=={numpy.__version__}\n")
    assert "every package installed at its locked version" in "\n".join(book.environment_lines(lock))
    assert book.lock_mismatches(lock) == []
    rec = book.RunRecord(name="fig9", parameters={}, hash="h", seconds=1.0, version="0.1.0",
                         commit="abc", executed_at="now", output="x")
    page = book.write_reproducing_page([rec], tmp_path / "reproducing.md").read_text()
    assert "## The environment of this build" in page
