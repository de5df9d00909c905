"""mkdocs hook: draw the docs' figures (`docs/figures.py`) before the
pages are read, so the site shows what the code does now."""

import importlib.util
import pathlib


def on_pre_build(config):
    path = pathlib.Path(config["docs_dir"]) / "figures.py"
    spec = importlib.util.spec_from_file_location("docs_figures", path)
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    figures.draw()
