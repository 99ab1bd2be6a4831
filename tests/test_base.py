"""The torch-estimator base: every network estimator shares its parameters and behaviour."""

import inspect
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from skspeckle.augmentation import RandomRotation
from skspeckle.base import (
    PARAMETER_CONSTRAINTS,
    BaseTorchEstimator,
    TorchEstimatorMixin,
    fitted_model,
    source_state_dict,
)
from skspeckle.baselines.sfx.hit_finder import HitFinderCNN
from skspeckle.baselines.sfx.row_wise import CNN1DClassifier
from skspeckle.baselines.spi.dann import DANNClassifier
from skspeckle.baselines.spi.pretrained import PretrainedFeatures
from skspeckle.baselines.spi.resnet import ResNetClassifier
from skspeckle.baselines.spi.shi19 import Shi19Classifier
from skspeckle.embedding import TripletEmbedder

FAST = dict(max_epochs=1, batch_size=16, device="cpu", random_state=0)

# One small instance of every estimator that trains a network, with the input it takes.
TRAINED = [
    TripletEmbedder(n_components=4, **FAST),
    Shi19Classifier(**FAST),
    ResNetClassifier(n=1, m=1, widths=(2, 4, 4), **FAST),
    DANNClassifier(ResNetClassifier(n=1, m=1, widths=(2, 4, 4)), **FAST),
    HitFinderCNN(crop=None, **FAST),
    CNN1DClassifier(**FAST),
]
NETWORK_ESTIMATORS = [
    *TRAINED,
    PretrainedFeatures(architecture="vgg11", width=1 / 32, device="cpu", random_state=0),
]


def _ids(estimators):
    return [type(e).__name__ for e in estimators]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, size=(40, 16, 16)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    X[y == 1, 4:12, 4:12] += 4
    return X, y


def _input(est, X):
    return X.max(axis=2) - X.min(axis=2) if isinstance(est, CNN1DClassifier) else X


def _fit(est, data, **params):
    X, y = data
    return clone(est).set_params(**params).fit(_input(est, X), y)


@pytest.mark.parametrize("est", NETWORK_ESTIMATORS, ids=_ids(NETWORK_ESTIMATORS))
def test_shared_parameters_have_the_same_default_and_constraint(est):
    shared = ["device", "precision", "random_state", "image_shape"]
    if isinstance(est, BaseTorchEstimator):
        shared = list(PARAMETER_CONSTRAINTS)
    signature = inspect.signature(type(est).__init__).parameters
    for name in shared:
        assert est._parameter_constraints[name] is PARAMETER_CONSTRAINTS[name], name
        default = inspect.signature(BaseTorchEstimator.__init__).parameters[name].default
        assert signature[name].default == default, name
    assert isinstance(est, TorchEstimatorMixin)


@pytest.mark.parametrize("est", NETWORK_ESTIMATORS, ids=_ids(NETWORK_ESTIMATORS))
def test_every_parameter_is_documented_once_in_the_class_docstring(est):
    doc = type(est).__doc__
    assert ".. shared-parameters::" not in doc
    params = doc.split("Parameters\n    ----------\n")[1].split("\n    Attributes")[0]
    for name in inspect.signature(type(est).__init__).parameters:
        if name == "self":
            continue
        entries = re.findall(rf"^    {name} : ", params, flags=re.MULTILINE)
        assert len(entries) == 1, f"{type(est).__name__}.{name}: {len(entries)} entries"
    # the defaults in the shared entries are read from the estimator's own signature
    if isinstance(est, Shi19Classifier):
        assert 'class_weight : None, "balanced" or dict, default="balanced"' in doc


@pytest.mark.parametrize("est", TRAINED, ids=_ids(TRAINED))
def test_bfloat16_fit_and_predict_on_every_trained_estimator(est, data):
    fitted = _fit(est, data, precision="bfloat16")
    X = _input(est, data[0])
    out = fitted.transform(X) if hasattr(fitted, "transform") else fitted.predict_proba(X)
    assert np.isfinite(out).all()
    reference = _fit(est, data)
    again = reference.transform(X) if hasattr(reference, "transform") else None
    if again is None:
        again = reference.predict_proba(X)
    assert not np.array_equal(out, again)  # the precision reached the network


def test_precision_reaches_pretrained_features(data):
    est = NETWORK_ESTIMATORS[-1]
    fitted = _fit(est, data)
    Z32 = fitted.transform(data[0])
    Z16 = fitted.set_params(precision="bfloat16").transform(data[0])
    assert Z16.dtype == np.float32 and not np.array_equal(Z32, Z16)
    np.testing.assert_allclose(Z16, Z32, rtol=0.1, atol=0.05)


@pytest.mark.parametrize("est", TRAINED, ids=_ids(TRAINED))
def test_init_from_and_freeze_features_keep_the_features_on_every_trained_estimator(est, data):
    source = _fit(est, data)
    tuned = _fit(est, data, init_from=source, freeze="features", random_state=1)
    before = source.module_.network.features.state_dict()
    after = tuned.module_.network.features.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("est", TRAINED, ids=_ids(TRAINED))
def test_augment_is_a_fit_time_parameter_of_every_trained_estimator(est, data):
    if isinstance(est, CNN1DClassifier):
        pytest.skip("profiles (B, length): the frame rotations do not apply")
    plain, rotated = _fit(est, data), _fit(est, data, augment=RandomRotation())
    a, b = plain.module_.state_dict(), rotated.module_.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TypeError, match="augment_tensor"):
        _fit(est, data, augment=[object()])


@pytest.mark.parametrize("est", TRAINED, ids=_ids(TRAINED))
def test_same_random_state_same_weights_and_global_rng_untouched(est, data):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = _fit(est, data).module_.state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    b = _fit(est, data).module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("est", TRAINED, ids=_ids(TRAINED))
def test_verbose_prints_one_line_per_epoch(est, data, capsys):
    _fit(est, data, verbose=1, max_epochs=2, n_iter_no_change=None)
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert len(lines) == 2 and all(line.startswith(f"[{type(est).__name__}]") for line in lines)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("est", NETWORK_ESTIMATORS, ids=_ids(NETWORK_ESTIMATORS))
def test_cuda_without_cuda_is_a_clear_error(est, data):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        fitted = _fit(est, data, device="cuda")  # PretrainedFeatures builds on the CPU ...
        fitted.transform(data[0])  # ... and computes on the device


def test_output_shape_probe_names_the_expected_width(data):
    with pytest.raises(ValueError, match=r"expected \(2, n_components=4\)"):
        _fit(
            TRAINED[0],
            data,
            network=lambda shape, k: nn.Sequential(nn.Flatten(), nn.Linear(256, 3)),
        )


def test_source_state_dict_explains_unfitted_estimators():
    class Unfitted:
        def get_params(self):
            return {}

    with pytest.raises(ValueError, match="FrozenEstimator"):
        source_state_dict(Unfitted())
    with pytest.raises(TypeError, match="init_from must be"):
        source_state_dict(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="weights=Unfitted"):
        fitted_model(Unfitted(), "weights")
