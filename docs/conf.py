"""Sphinx configuration: the API page is generated from the numpydoc docstrings."""

import skspeckle

project = "skspeckle"
release = skspeckle.__version__
# myst_parser reads results.md (Markdown, so that the results page also renders on GitHub).
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
