"""scikit-learn's estimator checks over every estimator of the package."""

import doctest

import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skspeckle import augmentation, few_shot, preprocessing
from skspeckle.augmentation import (
    FluenceJitter,
    RandomPatchMask,
    RandomRotation,
    RandomShift,
    RandomZoom,
)
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.preprocessing import DetectorMask, PixelBinning

# The checks' 2-D data is rarely a square number of features; _images.py warns, by design.
pytestmark = pytest.mark.filterwarnings("ignore:X is 2-D with .* not a square image")

# Small instances; the checks feed 2-D data, read as square frames or 1 x n strips.
ESTIMATORS = [
    DetectorMask(),
    DetectorMask(0.25),
    DetectorMask(0.5, layout="panels", panel_grid=(2, 2)),
    DetectorMask(0.3, layout="disk"),
    DetectorMask(0.6, layout="annulus", nonfinite="mask"),
    PixelBinning(1),  # the checks' 1 x n strips are too thin for a larger block
    RandomRotation(random_state=0),
    RandomPatchMask(n_patches=2, patch_size=1, random_state=0),
    RandomZoom(random_state=0),
    RandomShift(max_shift=1, random_state=0),
    FluenceJitter(random_state=0),
    FewShotCentroidClassifier(k=None),
    FewShotCentroidClassifier(k=None, aggregation="centroid"),
    FewShotCentroidClassifier(k=None, aggregation="min"),
    FewShotCentroidClassifier(k=1, random_state=0),
    TripletEmbedder(n_components=3, max_epochs=2, batch_size=16, random_state=0, device="cpu"),
]
AUGMENTATIONS = (FluenceJitter, RandomPatchMask, RandomRotation, RandomShift, RandomZoom)

_FIT_TIME_ONLY = (
    "fit-time-only augmentation by design (SpeckleNN Sec. III.E): fit_transform perturbs the "
    "training frames, transform is the identity, so the two differ"
)


def _expected_failed_checks(estimator):
    if not isinstance(estimator, AUGMENTATIONS):
        return {}
    return {
        "check_transformer_general": _FIT_TIME_ONLY,
        "check_transformer_data_not_an_array": _FIT_TIME_ONLY,
    }


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("module", [preprocessing, augmentation, few_shot])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
