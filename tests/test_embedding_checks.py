"""scikit-learn's estimator checks on a tiny, fast TripletEmbedder."""

from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skspeckle.embedding import TripletEmbedder


def _tiny():
    return TripletEmbedder(n_components=3, max_epochs=2, batch_size=16, random_state=0,
                           device="cpu")


# Every check passes, so there are no expected_failed_checks.
@parametrize_with_checks([_tiny()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_param_validation():
    check_param_validation("TripletEmbedder", _tiny())
