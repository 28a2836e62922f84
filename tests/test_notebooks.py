"""Every notebook executes with small parameters, and the book builds strictly from them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

from hdogreg import book

ROOT = book.ROOT
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
SMOKE = yaml.safe_load((ROOT / "tests" / "notebook_params.yml").read_text()) or {}


def _folder_digest(folder):
    import hashlib

    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def tiny_data(tiny):
    """The shared tiny benchmark (tests/conftest.py); pages only read it."""
    return tiny


@pytest.fixture(scope="session")
def executed(tmp_path_factory, tiny_data):
    """Run every notebook once into a temporary build folder; keep the failures."""
    build = tmp_path_factory.mktemp("build")
    before = _folder_digest(tiny_data)
    runs = {}
    with book.environment({"HDOGREG_BUILD": str(build), "HDOGREG_RESULTS": None, "HDOGREG_MODELS": None}):
        for name in NOTEBOOKS:
            params = dict(SMOKE.get(name) or {})
            defaults = book._default_parameters(jupytext.read(ROOT / "notebooks" / f"{name}.py"))
            if "data_dir" in defaults:
                params.setdefault("data_dir", str(tiny_data))
            try:
                runs[name] = book.run_notebook(name, params, force=True, timeout=900)
            except Exception as exc:  # reported by the test of that notebook
                runs[name] = exc
    return build, runs, _folder_digest(tiny_data) == before


def test_pages_leave_their_input_data_unchanged(executed):
    _, _, unchanged = executed
    assert unchanged, "a page wrote into its data_dir"


def test_data_command_writes_the_benchmark_the_api_writes(tiny, tmp_path):
    out = tmp_path / "synth"
    subprocess.run([sys.executable, "-m", "hdogreg.data", "synth", "--out", str(out),
                    "--seed", "0", "--preset", "tiny"], check=True, capture_output=True)
    assert _folder_digest(out) == _folder_digest(tiny)


def test_every_notebook_is_in_the_toc():
    assert sorted(book.book_notebooks()) == NOTEBOOKS


def test_every_notebook_has_smoke_parameters_listed():
    missing = sorted(set(NOTEBOOKS) - set(SMOKE))
    assert not missing, f"tests/notebook_params.yml has no smoke parameters for {missing}"


def test_smoke_parameters_name_existing_notebooks():
    stale = sorted(set(SMOKE) - set(NOTEBOOKS))
    assert not stale, f"tests/notebook_params.yml lists parameters for no notebook: {stale}"


@pytest.mark.parametrize("name", ["table4_fig7_classification", "fig8_ablation"])
def test_casestudy_pages_parameters_are_the_config_fields(name):
    """CaseStudyConfig.from_parameters ignores other names: a renamed field must not go stale."""
    import dataclasses

    from hdogreg.casestudy import CaseStudyConfig

    fields = {f.name for f in dataclasses.fields(CaseStudyConfig)}
    defaults = book._default_parameters(jupytext.read(ROOT / "notebooks" / f"{name}.py"))
    assert sorted(set(defaults) - fields) == ["n_gallery"]   # the page's own: gallery rows
    assert sorted(fields - set(defaults)) == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(executed, name):
    build, runs, _ = executed
    run = runs[name]
    if isinstance(run, Exception):
        pytest.fail(f"{name} failed: {str(run)[-3000:]}")
    assert (build / "notebooks" / f"{name}.ipynb").is_file()
    nb = json.loads((build / "notebooks" / f"{name}.ipynb").read_text())
    shown = json.dumps([c.get("outputs", []) for c in nb["cells"]])   # what a reader sees
    assert "TqdmWarning" not in shown, "a reader of the page should not see library warnings"
    assert str(build) not in shown, "pages show build paths as build/..., not this machine's folders"
    if name.startswith(("fig", "table")):
        assert (build / "results" / f"{name}.csv").is_file(), "figure/table notebooks save their numbers"


def test_book_builds_strictly_and_offline(executed, tmp_path):
    build, runs, _ = executed
    failed = [n for n, r in runs.items() if isinstance(r, Exception)]
    if failed:
        pytest.skip(f"notebooks failed: {failed}")
    site = tmp_path / "site"
    site.mkdir()
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / f, site / f)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("reproducing.md"))
    shutil.copytree(build / "notebooks", site / "build" / "notebooks")
    # A killed run leaves its hidden temporary notebook behind; the build must ignore it.
    first = sorted((site / "build" / "notebooks").glob("*.ipynb"))[0]
    shutil.copy(first, first.with_name(f".{first.name}.abc123.ipynb"))
    book.write_reproducing_page([runs[n] for n in book.book_notebooks()], site / "book" / "reproducing.md")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(site), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    html = site / "_build" / "html"
    assert (html / "index.html").is_file()
    for name in NOTEBOOKS:
        page = (html / "build" / "notebooks" / f"{name}.html").read_text()
        assert "<img" in page, f"{name} shows no figure"
        # Offline: no script or stylesheet is loaded from the internet; MathJax is local.
        assert 'src="http' not in page and "cdn.jsdelivr" not in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
