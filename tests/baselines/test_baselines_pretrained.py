"""PretrainedFeatures: VGG weights from a file, features of a fitted estimator."""

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skspeckle.baselines.spi.pretrained import PretrainedFeatures
from skspeckle.baselines.spi.resnet import ResNetClassifier
from skspeckle.nn.networks.spi import VGGFeatures

SMALL = dict(architecture="vgg11", width=1 / 16, device="cpu")


@pytest.fixture(scope="module")
def data(three_class_patterns):
    X, y, _ = three_class_patterns
    return X.reshape(len(X), 24, 2, 24, 2).sum(axis=(2, 4)), y


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A torchvision-style VGG11 state_dict (reduced width) with a classifier to ignore."""
    torch.manual_seed(0)
    state = dict(VGGFeatures("vgg11", width=1 / 16).state_dict())
    state["classifier.0.weight"] = torch.zeros(10, 32)
    path = tmp_path_factory.mktemp("weights") / "vgg11.pth"
    torch.save(state, path)
    return path, state


def test_weights_file_loads_by_torchvision_names(data, weights_file):
    X, _ = data
    path, state = weights_file
    est = PretrainedFeatures(path, **SMALL, n_blocks=2).fit(X)
    loaded = est.module_[1].features.state_dict()
    assert all(torch.equal(loaded[k], state["features." + k]) for k in loaded)
    assert est.transform(X).shape == (len(X), 32 + 32)
    assert est.get_feature_names_out()[0] == "pretrainedfeatures0"


def test_wrong_architecture_lists_mismatches(data, weights_file):
    X, _ = data
    with pytest.raises(ValueError, match="shape mismatch: features.0.weight"):
        PretrainedFeatures(weights_file[0], architecture="vgg11", width=1 / 8).fit(X)
    with pytest.raises(ValueError, match="missing from the source"):
        PretrainedFeatures(weights_file[0], architecture="vgg16", width=1 / 16).fit(X)


def test_features_of_a_fitted_network_feed_a_linear_classifier(data):
    X, y = data
    source = ResNetClassifier(
        1, 1, widths=(8, 16, 16), max_epochs=10, batch_size=32, random_state=0, device="cpu"
    ).fit(X[::2], y[::2])
    features = PretrainedFeatures(FrozenEstimator(source), device="cpu")
    assert features.fit_transform(X).shape == (len(X), 16)
    pipe = make_pipeline(features, StandardScaler(), LogisticRegression(max_iter=500))
    assert cross_val_score(pipe, X[1::2], y[1::2], cv=3).mean() > 0.6  # chance: 1/3
    with pytest.raises(ValueError, match="fitted on frames of shape"):
        PretrainedFeatures(source).fit(X[:, :20, :20])


def test_unfitted_estimator_and_missing_file(data, tmp_path):
    X, _ = data
    with pytest.raises(ValueError, match="FrozenEstimator"):
        PretrainedFeatures(ResNetClassifier()).fit(X)
    with pytest.raises(FileNotFoundError):
        PretrainedFeatures(tmp_path / "none.pth").fit(X)


def test_random_weights_follow_random_state(data):
    X, _ = data
    a = PretrainedFeatures(**SMALL, random_state=0).fit_transform(X)
    b = PretrainedFeatures(**SMALL, random_state=0).fit_transform(X)
    c = PretrainedFeatures(**SMALL, random_state=1).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
