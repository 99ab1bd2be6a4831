"""Set-up of the doctests (`pytest --doctest-modules skspeckle`, run by `make test`).

The option flags (NORMALIZE_WHITESPACE, NUMBER) are in pyproject.toml's
``[tool.pytest.ini_options]``. Here:

- every ``>>>`` example runs in a fresh temporary working directory, with the simulator's
  amplitude cache (``$SKSPECKLE_CACHE_DIR``, see
  :func:`skspeckle.simulation.amplitude.default_cache_dir`) in a temporary directory shared by
  the session, so that examples never write to the user's ``~/.cache`` or to the checkout;
- modules whose examples need an optional extra that is not installed are not collected.

The unit tests under tests/ have their own fixtures (tests/conftest.py); the fixture below
does nothing for them.
"""

import importlib.util
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

#: Modules whose examples need an optional dependency, with the modules it provides
#: (the extra to install is named in pyproject.toml).
_NEEDS_EXTRA = {
    "skspeckle/io/cbf.py": ("fabio",),  # the sfx extra: x-CBF_BYTE_OFFSET sections
    "skspeckle/cluster.py": ("dask", "distributed"),  # the dask extra
    "skspeckle/_dask_worker.py": ("distributed",),  # imports it at module level
}

_ROOT = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path).resolve()
    if not path.is_relative_to(_ROOT):
        return None
    needs = _NEEDS_EXTRA.get(path.relative_to(_ROOT).as_posix(), ())
    if any(importlib.util.find_spec(name) is None for name in needs):
        return True
    return None


@pytest.fixture(scope="session")
def _doctest_amplitude_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("doctest-amplitude-cache")


@pytest.fixture(autouse=True)
def _doctest_sandbox(request):
    if isinstance(request.node, DoctestItem):
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setenv(
            "SKSPECKLE_CACHE_DIR", str(request.getfixturevalue("_doctest_amplitude_cache"))
        )
        monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    yield
