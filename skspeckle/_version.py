"""The package version (a separate module so that nothing needs the package face to read it)."""

__version__ = "0.4.0"
