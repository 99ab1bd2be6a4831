import pytest

from skspeckle.datasets import load_structure


@pytest.fixture(scope="session")
def small_structure():
    """The smallest bundled particle (1n7g, ~1e4 atoms): fast amplitudes."""
    return load_structure("1n7g")


@pytest.fixture
def cache_dir(amplitude_cache):
    """The session's amplitude cache (tests/conftest.py), never the user's ~/.cache."""
    return amplitude_cache
