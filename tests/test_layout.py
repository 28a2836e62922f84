"""The package's layout: library modules do not import the front ends, modules stay small."""

from pathlib import Path

import pytest

import hdogreg
from hdogreg._utils import _imported_modules, _module_file

PKG = Path(hdogreg.__file__).resolve().parent
MODULES = sorted(
    ".".join(("hdogreg", *p.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")
    for p in PKG.rglob("*.py") if "__pycache__" not in p.parts
)
FRONT_ENDS = {"hdogreg.cli", "hdogreg.book"}


@pytest.mark.parametrize("name", MODULES)
def test_no_module_imports_the_cli_or_the_book_runner(name):
    assert not (_imported_modules(name, _module_file(name)) & FRONT_ENDS) - {name}


@pytest.mark.parametrize("name", MODULES)
def test_no_module_is_longer_than_700_lines(name):
    lines = _module_file(name).read_text().count("\n")
    assert lines <= 700, f"{name}: {lines} lines; split it by concern (CONTRIBUTING.md, Layout)"


def test_every_module_is_in_the_layout_table():
    text = (PKG.parent / "CONTRIBUTING.md").read_text()
    missing = [p.relative_to(PKG.parent).as_posix() for p in sorted(PKG.rglob("*.py"))
               if "__pycache__" not in p.parts and f"`{p.relative_to(PKG.parent).as_posix()}`" not in text]
    assert not missing, f"modules missing from the layout table of CONTRIBUTING.md: {missing}"


def test_the_import_scan_sees_imports_inside_functions():
    # hdogreg.robustness imports the evaluation models only inside a function
    found = _imported_modules("hdogreg.robustness", _module_file("hdogreg.robustness"))
    assert "hdogreg.evaluation.models" in found
