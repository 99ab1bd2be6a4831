"""Every estimator of the package through scikit-learn's checks and the project's contracts.

The estimators come from :func:`skspeckle.utils.discovery.all_estimators`; ``INSTANCES`` gives
each one small, fast instances (a discovered estimator without an entry fails
``test_every_estimator_has_instances``, so a new estimator cannot miss the checks), and
``EXPECTED_FAILED_CHECKS`` is the one table of scikit-learn checks they fail by design, each
with its reason.
"""

import re

import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skspeckle import (
    DetectorMask,
    FewShotCentroidClassifier,
    FluenceJitter,
    PixelBinning,
    PoissonResample,
    QGridResampler,
    RandomPatchMask,
    RandomRotation,
    RandomShift,
    RandomZoom,
    TripletEmbedder,
)
from skspeckle.baselines import (
    CNN1DClassifier,
    DANNClassifier,
    DiffusionMapEmbedding,
    DiffusionMapFewShotClassifier,
    HitFinderCNN,
    PeakCountClassifier,
    PretrainedFeatures,
    ResNetClassifier,
    RowWiseDecomposition,
    Shi19Classifier,
    SpectralFewShotClassifier,
    TotalIntensityClassifier,
)
from skspeckle.detector import Detector
from skspeckle.utils.discovery import all_estimators
from skspeckle.utils.estimator_checks import yield_contract_checks

pytestmark = [
    # The checks' 2-D data is rarely a square number of features; _images.py warns, by design.
    pytest.mark.filterwarnings("ignore:X is 2-D with .* not a square image"),
    pytest.mark.filterwarnings("ignore:.*validation_fraction=.* cannot hold"),
    pytest.mark.filterwarnings("ignore:Graph is not fully connected"),
]

_TINY_RESNET = dict(n=1, m=1, widths=(2, 4, 4))
_STRIP = Detector((1, 3), pixel_size=1e-3, distance=0.1)

# Small instances, by class name; the checks feed 2-D data, read as square frames or 1 x n
# strips.
INSTANCES = {
    "CNN1DClassifier": [
        CNN1DClassifier(
            max_epochs=1, batch_size=64, validation_fraction=0, random_state=0, device="cpu"
        )
    ],
    "DANNClassifier": [
        DANNClassifier(
            ResNetClassifier(**_TINY_RESNET),
            domain_hidden_units=4,
            max_epochs=2,
            batch_size=32,
            random_state=0,
            device="cpu",
        )
    ],
    "DetectorMask": [
        DetectorMask(),
        DetectorMask(0.25),
        DetectorMask(0.5, layout="panels", panel_grid=(2, 2)),
        DetectorMask(0.3, layout="disk"),
        DetectorMask(0.6, layout="annulus", nonfinite="mask"),
    ],
    "DiffusionMapEmbedding": [DiffusionMapEmbedding(n_components=2, random_state=0)],
    "DiffusionMapFewShotClassifier": [
        DiffusionMapFewShotClassifier(n_clusters=2, n_neighbors=5, random_state=0)
    ],
    "FewShotCentroidClassifier": [
        FewShotCentroidClassifier(k=None),
        FewShotCentroidClassifier(k=None, aggregation="centroid"),
        FewShotCentroidClassifier(k=None, aggregation="min"),
        FewShotCentroidClassifier(k=1, random_state=0),
        FewShotCentroidClassifier(k=None, rejection_rate=0.01, unknown_label=-1),
    ],
    "FluenceJitter": [FluenceJitter(random_state=0)],
    "HitFinderCNN": [
        HitFinderCNN(
            crop=None,
            max_epochs=1,
            batch_size=64,
            validation_fraction=0,
            random_state=0,
            device="cpu",
        )
    ],
    "PeakCountClassifier": [PeakCountClassifier(snr=3.0, background_size=5)],
    "PixelBinning": [PixelBinning(1)],
    "PoissonResample": [
        PoissonResample(random_state=0)
    ],  # the checks' 1 x n strips are too thin for a larger block
    "PretrainedFeatures": [
        PretrainedFeatures(architecture="vgg11", width=1 / 32, random_state=0, device="cpu")
    ],
    # The checks' data is mostly 3 features wide: a 1 x 3 strip of pixels, resampled onto
    # itself and onto a farther detector (2 of its 3 pixels covered).
    "QGridResampler": [
        QGridResampler(_STRIP, target=_STRIP),
        QGridResampler(_STRIP, target=Detector((1, 3), pixel_size=1e-3, distance=0.2)),
    ],
    "RandomPatchMask": [RandomPatchMask(n_patches=2, patch_size=1, random_state=0)],
    "RandomRotation": [RandomRotation(random_state=0)],
    "RandomShift": [RandomShift(max_shift=1, random_state=0)],
    "RandomZoom": [RandomZoom(random_state=0)],
    "ResNetClassifier": [
        ResNetClassifier(**_TINY_RESNET, max_epochs=2, batch_size=32, random_state=0, device="cpu")
    ],
    "RowWiseDecomposition": [RowWiseDecomposition()],
    "Shi19Classifier": [Shi19Classifier(max_epochs=2, batch_size=32, random_state=0, device="cpu")],
    "SpectralFewShotClassifier": [
        SpectralFewShotClassifier(n_clusters=2, n_neighbors=5, random_state=0)
    ],
    "TotalIntensityClassifier": [TotalIntensityClassifier()],
    "TripletEmbedder": [
        TripletEmbedder(n_components=3, max_epochs=2, batch_size=16, random_state=0, device="cpu")
    ],
}
ESTIMATORS = [estimator for name in sorted(INSTANCES) for estimator in INSTANCES[name]]
# The contract checks feed 12 x 12 frames: an estimator whose frame shape is a parameter is
# checked there through instances of that shape.
_PIXELS = Detector((12, 12), pixel_size=1e-3, distance=0.1)
CONTRACT_INSTANCES = {
    "QGridResampler": [
        QGridResampler(_PIXELS, target=_PIXELS),
        QGridResampler(_PIXELS, target=_PIXELS.bin(2), source_energy_kev=1.6),
    ],
}
CONTRACT_ESTIMATORS = [
    estimator
    for name in sorted(INSTANCES)
    for estimator in CONTRACT_INSTANCES.get(name, INSTANCES[name])
]

_FIT_TIME_ONLY = dict.fromkeys(
    ("check_transformer_general", "check_transformer_data_not_an_array"),
    "fit-time-only augmentation by design (SpeckleNN Sec. III.E): fit_transform perturbs the "
    "training frames, transform is the identity, so the two differ",
)
_MINIBATCH = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch training: removing the zero-weight frames changes the batches, the "
        "validation split and hence the weights"
    ),
}

# scikit-learn checks each estimator fails by design: class name -> {check: reason}.
EXPECTED_FAILED_CHECKS = {
    "CNN1DClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "stochastic mini-batch training: a repeated frame changes the shuffled batches "
            "and the validation split, so weights 2 and a duplicate differ slightly"
        ),
    },
    "DANNClassifier": _MINIBATCH,
    "DiffusionMapFewShotClassifier": {
        "check_classifiers_classes": (
            "-1 marks unlabelled frames (scikit-learn's semi-supervised convention), so the "
            "check's class -1 is read as unlabelled"
        ),
    },
    "FewShotCentroidClassifier": {
        "check_classifiers_classes": (
            "-1 marks unlabelled vectors (unlabeled=-1, scikit-learn's semi-supervised "
            "convention), so the check's class -1 is read as unlabelled"
        ),
    },
    "FluenceJitter": _FIT_TIME_ONLY,
    "HitFinderCNN": {
        "check_sample_weight_equivalence_on_dense_data": (
            "stochastic mini-batch training: a repeated frame changes the shuffled batches, "
            "so weights 2 and a duplicate differ slightly"
        ),
    },
    "QGridResampler": dict.fromkeys(
        (
            "check_dtype_object",
            "check_estimators_dtypes",
            "check_estimators_fit_returns_self",
            "check_estimators_overwrite_params",
            "check_fit2d_1feature",
            "check_fit2d_1sample",
            "check_fit_check_is_fitted",
            "check_fit_idempotent",
            "check_n_features_in",
            "check_n_features_in_after_fitting",
            "check_positive_only_tag_during_fit",
            "check_readonly_memmap_input",
        ),
        "the source detector fixes the number of pixels (3 here); these checks feed 1, 2, 4, "
        "5 or 10 features, which are refused as frames of another detector",
    ),
    "PoissonResample": _FIT_TIME_ONLY,
    "RandomPatchMask": _FIT_TIME_ONLY,
    "RandomRotation": _FIT_TIME_ONLY,
    "RandomShift": _FIT_TIME_ONLY,
    "RandomZoom": _FIT_TIME_ONLY,
    "ResNetClassifier": _MINIBATCH,
    "Shi19Classifier": _MINIBATCH,
    "SpectralFewShotClassifier": {
        "check_classifiers_classes": (
            "-1 marks unlabelled frames (scikit-learn's semi-supervised convention), so the "
            "check's class -1 is read as unlabelled"
        ),
    },
}


# Open-set rejection (FewShotCentroidClassifier with rejection_rate or max_distance_ratio):
# checks failed by design by those instances only.
_OPEN_SET_FAILED_CHECKS = {
    "check_classifiers_classes": (
        "open-set rejection: unknown_label must have the type of the classes (an int for the "
        "check's integer classes), so one label cannot serve both its string and integer "
        "classes; and predict may answer unknown_label, which is not in classes_"
    ),
    **dict.fromkeys(
        (
            "check_classifiers_train",
            "check_classifiers_train(readonly_memmap=True)",
            "check_classifiers_train(readonly_memmap=True,X_dtype=float32)",
        ),
        "open-set rejection: predict answers unknown_label for a rejected query, so it is "
        "not the argmax of decision_function / predict_proba, which keep the known classes",
    ),
}


def _expected_failed_checks(estimator):
    expected = dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
    if getattr(estimator, "rejection_rate", None) or getattr(estimator, "max_distance_ratio", None):
        expected.update(_OPEN_SET_FAILED_CHECKS)
    return expected


def _id(estimator):
    """The estimator's repr on one line, as in the ids of ``parametrize_with_checks``."""
    return re.sub(r"\s", "", repr(estimator))


def test_every_estimator_has_instances():
    discovered = {name for name, _ in all_estimators()}
    assert sorted(discovered - INSTANCES.keys()) == [], "add them to INSTANCES"
    assert sorted(INSTANCES.keys() - discovered) == [], "not found by all_estimators()"
    for name, instances in INSTANCES.items():
        assert instances and all(type(est).__name__ == name for est in instances), name
    assert EXPECTED_FAILED_CHECKS.keys() <= INSTANCES.keys()
    assert CONTRACT_INSTANCES.keys() <= INSTANCES.keys()


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize(
    "estimator, check",
    [(est, check) for est in CONTRACT_ESTIMATORS for check in yield_contract_checks(est)],
    ids=lambda value: value.__name__ if callable(value) else _id(value),
)
def test_contract(estimator, check):
    check(estimator)
