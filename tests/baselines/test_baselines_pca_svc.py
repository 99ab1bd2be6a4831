"""PCA + SVC on simulated speckle patterns."""

import pytest
from sklearn.model_selection import train_test_split

from skspeckle.baselines import make_pca_svc


@pytest.fixture(scope="module")
def data(three_class_patterns):
    X, y, _ = three_class_patterns
    return X, y


def test_pca_svc_learns(data):
    X, y = data
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    pipe = make_pca_svc(10, random_state=0).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.6  # chance: 1/3
    assert pipe.named_steps["pca"].n_components_ == 10
