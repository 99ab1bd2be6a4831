"""Optional dependencies: the facility, web and fast-inference stacks, imported when used.

Each optional package belongs to one extra of ``pyproject.toml``; a missing one raises an
:class:`ImportError` that names the extra to install, so that ``import skspeckle`` and every
code path that does not need it work without it.
"""

import importlib

__all__ = ["import_optional"]


def import_optional(module, extra, *, purpose=None):
    """Import an optional dependency, or fail with the install command that provides it.

    Parameters
    ----------
    module : str
        Absolute module name, e.g. ``"extra_data"`` or ``"onnxruntime"``.
    extra : str
        The ``skspeckle`` extra that installs it, e.g. ``"euxfel"``.
    purpose : str, optional
        What needs it, for the message (e.g. ``"reading European XFEL runs"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ImportError
        When ``module`` cannot be imported; the message names the extra
        (``pip install 'skspeckle[<extra>]'``) and keeps the original error as its cause.

    Examples
    --------
    >>> import_optional("json", "none").__name__
    'json'
    >>> import_optional("no_such_module_xyz", "euxfel", purpose="reading EuXFEL runs")
    Traceback (most recent call last):
    ...
    ImportError: reading EuXFEL runs needs no_such_module_xyz, which is not installed: pip install 'skspeckle[euxfel]'
    """  # noqa: E501
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = purpose or "this feature of skspeckle"
        raise ImportError(
            f"{what} needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'skspeckle[{extra}]'"
        ) from exc
