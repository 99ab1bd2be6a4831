"""Sphinx configuration: the API page is generated from the numpydoc docstrings."""
import skspeckle

project = "skspeckle"
release = skspeckle.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
