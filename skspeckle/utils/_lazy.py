"""PEP 562 lazy package attributes: a package names where each public name lives, and the
module defining it is imported on first access. ``import skspeckle`` therefore loads neither
torch, h5py nor gemmi, and the command line starts fast."""

import importlib
import sys

__all__ = ["attach"]


def attach(package, where):
    """Module ``__getattr__``, ``__dir__`` and ``__all__`` for a package.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : dict of str to str
        Public name -> absolute name of the module that defines it.

    Returns
    -------
    __getattr__, __dir__, __all__
        To be assigned to the package's module globals; ``__all__`` is the sorted public
        names. ``__getattr__`` raises :class:`AttributeError` for any other name.

    Examples
    --------
    In a package ``__init__.py``::

        __getattr__, __dir__, __all__ = attach(__name__, {"Detector": "skspeckle.detector"})

    >>> import skspeckle
    >>> "TripletEmbedder" in skspeckle.__all__
    True
    >>> skspeckle.TripletEmbedder.__module__  # imported on this first access
    'skspeckle.embedding'
    """

    def __getattr__(name):
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # resolved once; later lookups are plain
        return value

    def __dir__():
        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, sorted(where)
