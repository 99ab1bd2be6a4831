"""The lazy package faces (PEP 562): every public name resolves, unknown names fail."""

import importlib

import pytest

LAZY_PACKAGES = [
    "skspeckle",
    "skspeckle.baselines",
    "skspeckle.datasets",
    "skspeckle.io",
    "skspeckle.simulation",
]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    assert module.__all__ and set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        value = getattr(module, name)
        assert vars(module)[name] is value  # cached after the first lookup


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_unknown_name(package):
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018
