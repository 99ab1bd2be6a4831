import inspect

import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

import skspeckle
import skspeckle.baselines
from skspeckle.utils.discovery import all_estimators

PUBLIC_ESTIMATORS = {
    "CNN1DClassifier",
    "DANNClassifier",
    "DetectorMask",
    "DiffusionMapEmbedding",
    "DiffusionMapFewShotClassifier",
    "FewShotCentroidClassifier",
    "FluenceJitter",
    "HitFinderCNN",
    "PeakCountClassifier",
    "PixelBinning",
    "PoissonResample",
    "PretrainedFeatures",
    "QGridResampler",
    "RandomPatchMask",
    "RandomRotation",
    "RandomShift",
    "RandomZoom",
    "ResNetClassifier",
    "RowWiseDecomposition",
    "Shi19Classifier",
    "SpectralFewShotClassifier",
    "TotalIntensityClassifier",
    "TripletEmbedder",
}


def _exported_estimators(package):
    return {
        name
        for name in package.__all__
        if inspect.isclass(value := getattr(package, name)) and issubclass(value, BaseEstimator)
    }


def test_lists_every_public_estimator_once_sorted():
    found = all_estimators()
    names = [name for name, _ in found]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert set(names) == PUBLIC_ESTIMATORS
    exported = _exported_estimators(skspeckle) | _exported_estimators(skspeckle.baselines)
    assert exported <= set(names)
    for name, cls in found:
        assert cls.__name__ == name and cls.__module__.startswith("skspeckle.")
        assert not any(part.startswith("_") for part in cls.__module__.split("."))


def test_leaves_out_bases_and_private_classes():
    names = {name for name, _ in all_estimators()}
    assert "NeuralNetClassifier" not in names and "ThresholdClassifier" not in names
    assert not any(name.startswith("_") for name in names)


@pytest.mark.parametrize(
    "type_filter, mixin",
    [("classifier", ClassifierMixin), ("transformer", TransformerMixin)],
)
def test_type_filter(type_filter, mixin):
    everything = all_estimators()
    kept = all_estimators(type_filter=type_filter)
    assert kept == [(n, c) for n, c in everything if issubclass(c, mixin)] and kept
    both = all_estimators(type_filter=["classifier", "transformer"])
    assert {n for n, _ in both} == {
        n for n, c in everything if issubclass(c, (ClassifierMixin, TransformerMixin))
    }
    assert all_estimators(type_filter="regressor") == []


def test_unknown_type_filter():
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators(type_filter="clusterer")
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators(type_filter=["classifier", "regresor"])
