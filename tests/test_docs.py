"""Every Python snippet in docs/ runs as written."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
SNIPPETS = [
    pytest.param(code, id=f"{path.relative_to(DOCS)}#{i}")
    for path in sorted(DOCS.rglob("*.md"))
    for i, code in enumerate(BLOCK.findall(path.read_text()))
]


def test_docs_have_snippets():
    concept_pages = sorted((DOCS / "concepts").glob("*.md"))
    assert len(concept_pages) == 15
    for page in concept_pages:
        text = page.read_text()
        assert BLOCK.search(text), f"{page.name} has no runnable snippet"
        assert "**Proof:**" in text, f"{page.name} names no test"


@pytest.mark.parametrize("code", SNIPPETS)
def test_snippet_runs(code):
    exec(compile(code, "<docs snippet>", "exec"), {})  # noqa: S102


def test_named_tests_exist():
    """The tests a concept page cites are real test functions."""
    root = DOCS.parent
    for page in (DOCS / "concepts").glob("*.md"):
        for path, name in re.findall(
            r"`(tests/[\w/]+\.py)::(test_\w+)`", page.read_text()
        ):
            assert f"def {name}(" in (root / path).read_text(), (page, name)


def _figures():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "docs_figures", DOCS / "figures.py"
    )
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    return figures


def test_every_figure_a_page_shows_is_drawn():
    """The pages link exactly the files docs/figures.py declares (the
    strict docs build, which draws them, fails on a link to a file not
    written; `draw` fails on a declared file not written)."""
    declared = {
        file for _, files in _figures().FIGURES.values() for file in files
    }
    link = re.compile(r"images/generated/([\w.-]+\.png)")
    shown = {
        name
        for page in DOCS.rglob("*.md")
        for name in link.findall(page.read_text())
    }
    assert shown == declared


def test_draw_fails_when_a_figure_does_not_write_its_file(tmp_path):
    figures = _figures()
    figures.draw(["masks"], out=tmp_path)
    assert (tmp_path / "masks.png").stat().st_size > 10_000
    figures.FIGURES["masks"] = (lambda out: None, ["masks.png"])
    with pytest.raises(RuntimeError, match="did not write"):
        figures.draw(["masks"], out=tmp_path)
