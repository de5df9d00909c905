"""mkdocs hooks.

- Draw the docs' figures (`docs/figures.py`) before the pages are read,
  so the site shows what the code does now (`DOCS_FIGURES=existing`
  keeps those of the last build, for quick rebuilds while writing).
- Show the tests the pages cite. A page links a test as
  ``[`tests/x/test_y.py::test_z`](../../tests/x/test_y.py)``: on GitHub
  that opens the file. In the site, the link goes to a generated page
  `source/tests/x/test_y/` that shows the file's source, one heading per
  test, and to the cited test's heading on it.
- Publish `zoo/README.md`, the zoo's results and their commands, as the
  page `results.md`, so the site and the repository show one table.
"""

import ast
import importlib.util
import os
import pathlib
import posixpath
import re

from mkdocs.structure.files import File

# A link to a test file from a page, with the test's name in its text.
TEST_LINK = re.compile(
    r"\[`(?P<text>tests/[\w/]+\.py(?:::(?P<test>\w+))?)`\]"
    r"\((?P<up>(?:\.\./)+)(?P<path>tests/[\w/]+\.py)\)"
)


def _root(config):
    return pathlib.Path(config["docs_dir"]).resolve().parent


def on_pre_build(config):
    path = pathlib.Path(config["docs_dir"]) / "figures.py"
    spec = importlib.util.spec_from_file_location("docs_figures", path)
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    if os.environ.get("DOCS_FIGURES") == "existing":
        # While editing text: keep the figures of the last build (a
        # missing one still fails the strict build).
        return
    figures.draw()


def source_page(root, path):
    """Markdown showing the Python file `root / path`, with a `##`
    heading before each top-level test function."""
    text = (root / path).read_text()
    lines = text.splitlines()
    out = [
        f"# {path}",
        "",
        "The source of this test file, one heading per test. Run one with "
        f"`pytest {path}::NAME`.",
        "",
    ]
    start = 0
    for node in ast.parse(text).body:
        is_test = isinstance(node, ast.FunctionDef) and node.name.startswith(
            "test_"
        )
        if not is_test:
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        out += _block(lines[start : first - 1])
        out += [f"## `{node.name}`", ""]
        out += _block(lines[first - 1 : node.end_lineno])
        start = node.end_lineno
    out += _block(lines[start:])
    return "\n".join(out) + "\n"


def _block(lines):
    while lines and not lines[0].strip():
        lines = lines[1:]
    if not any(line.strip() for line in lines):
        return []
    return ["```python", *lines, "```", ""]


def _cited(config):
    """The test files that some page links."""
    found = set()
    for page in pathlib.Path(config["docs_dir"]).rglob("*.md"):
        found.update(m["path"] for m in TEST_LINK.finditer(page.read_text()))
    return sorted(found)


def on_files(files, config):
    root = _root(config)
    results = (root / "zoo" / "README.md").read_text()
    results += (
        "\n---\n\nThis page is `zoo/README.md` of the repository; the "
        "recipes are in `zoo/`.\n"
    )
    files.append(File.generated(config, "results.md", content=results))
    for path in _cited(config):
        if not (root / path).is_file():
            raise FileNotFoundError(f"the docs link {path}, which is gone")
        uri = "source/" + path[: -len(".py")] + ".md"
        files.append(
            File.generated(config, uri, content=source_page(root, path))
        )
    return files


def on_page_markdown(markdown, page, config, files):
    here = posixpath.dirname(page.file.src_uri)

    def link(match):
        target = "source/" + match["path"][: -len(".py")] + ".md"
        target = posixpath.relpath(target, here or ".")
        anchor = f"#{match['test']}" if match["test"] else ""
        return f"[`{match['text']}`]({target}{anchor})"

    return TEST_LINK.sub(link, markdown)
