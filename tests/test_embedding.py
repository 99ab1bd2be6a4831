import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline

from skspeckle.embedding import TripletEmbedder

FAST = dict(n_components=4, max_epochs=2, batch_size=16, random_state=0, device="cpu")


def _blobs(n_per_class=12, shape=(16, 16), n_classes=2, seed=0):
    """Poisson frames whose classes differ in where the photons land."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(n_classes):
        lam = np.full(shape, 2.0)
        lam[:, (c * shape[1]) // n_classes : ((c + 1) * shape[1]) // n_classes] += 6.0
        X.append(rng.poisson(lam, size=(n_per_class, *shape)))
        y += [c] * n_per_class
    return np.concatenate(X).astype(np.float32), np.array(y)


def _speckle(n_per_class, size=24, photons=600.0, seed=0):
    """Toy speckle patterns |FFT(particle)|^2 with fluence jitter and Poisson noise.

    Class 0: one particle of radius 5 px in a 64 px box; class 1: two such particles
    (a multi hit, fringes on the speckles); class 2: one particle of radius 6 px (finer
    speckles). At 600 photons per frame the classes differ in subtle texture only.
    """
    rng = np.random.default_rng(seed)
    n = 64
    yy, xx = np.mgrid[:n, :n] - n / 2

    def particle(r, cx=0.0, cy=0.0):
        disk = np.hypot(yy - cy, xx - cx) < r * rng.uniform(0.9, 1.1)
        return disk * rng.uniform(0.7, 1.3, size=(n, n))

    X, y = [], []
    for c in range(3):
        for _ in range(n_per_class):
            if c == 0:
                obj = particle(5.0)
            elif c == 1:
                s, a = rng.uniform(6, 9), rng.uniform(0, 2 * np.pi)
                obj = particle(5.0, s * np.cos(a), s * np.sin(a)) + particle(
                    5.0, -s * np.cos(a), -s * np.sin(a)
                )
            else:
                obj = particle(6.0)
            intensity = np.abs(np.fft.fftshift(np.fft.fft2(obj))) ** 2
            lo, hi = n // 2 - size // 2, n // 2 + size // 2
            intensity = intensity[lo:hi, lo:hi]
            intensity *= photons * np.exp(rng.uniform(np.log(0.5), np.log(2))) / intensity.sum()
            X.append(rng.poisson(intensity))
            y.append(c)
    return np.stack(X).astype(np.float32), np.array(y)


def _few_shot_accuracy(Z, y, k=5, episodes=50, seed=0):
    """Mean accuracy of k-shot nearest-centroid classification over random episodes."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    accuracies = []
    for _ in range(episodes):
        support, query = [], []
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            support.append(idx[:k])
            query.append(idx[k:])
        centroids = np.stack([Z[s].mean(axis=0) for s in support])
        q = np.concatenate(query)
        d = ((Z[q, None, :] - centroids[None]) ** 2).sum(axis=-1)
        accuracies.append(np.mean(classes[d.argmin(axis=1)] == y[q]))
    return float(np.mean(accuracies))


@pytest.fixture(scope="module")
def data():
    return _blobs()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return TripletEmbedder(**FAST).fit(X, y)


# --------------------------------------------------------------------- outputs


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    X=arrays(
        np.float32,
        st.tuples(st.integers(1, 20), st.just(16), st.just(16)),
        elements=st.floats(0, 1e6, width=32),
    )
)
def test_transform_unit_norm_float32(fitted, X):
    Z = fitted.transform(X)
    assert Z.dtype == np.float32 and Z.shape == (len(X), 4)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)


@settings(max_examples=6, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), n_components=st.integers(1, 6))
def test_any_frame_size_embeds_to_unit_vectors(h, w, n_components):
    X, y = _blobs(6, shape=(h, w))
    est = TripletEmbedder(**{**FAST, "n_components": n_components, "max_epochs": 1})
    Z = est.fit(X, y).transform(X)
    assert Z.shape == (12, n_components) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    assert est.image_shape_ == (h, w)


def test_flattened_input_with_image_shape(data):
    X, y = data
    X2 = X.reshape(len(X), -1)
    Z3 = TripletEmbedder(**FAST).fit(X, y).transform(X)
    est = TripletEmbedder(**FAST, image_shape=(16, 16)).fit(X2, y)
    assert est.n_features_in_ == 256 and est.image_shape_ == (16, 16)
    np.testing.assert_array_equal(est.transform(X2), Z3)
    assert list(est.get_feature_names_out()) == [f"tripletembedder{i}" for i in range(4)]


def test_same_random_state_same_embeddings_and_global_rng_untouched(data):
    X, y = data
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = TripletEmbedder(**FAST).fit(X, y)
    Za = a.transform(X)
    assert torch.equal(torch.get_rng_state(), state)
    b = TripletEmbedder(**FAST).fit(X, y)
    np.testing.assert_array_equal(Za, b.transform(X))
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]
    c = TripletEmbedder(**{**FAST, "random_state": 1}).fit(X, y)
    assert not np.array_equal(Za, c.transform(X))
    # numpy RandomState is accepted and used
    d = TripletEmbedder(**{**FAST, "random_state": np.random.RandomState(0)}).fit(X, y)
    assert d.transform(X).shape == Za.shape
    assert torch.equal(torch.get_rng_state(), state)


def test_pickle_round_trip(fitted, data):
    X, _ = data
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.transform(X), fitted.transform(X))
    assert all(p.device.type == "cpu" for p in clone.module_.parameters())
    assert not clone.module_.training


def test_fitted_attributes_and_history(data):
    X, y = data
    est = TripletEmbedder(**{**FAST, "max_epochs": 3, "validation_fraction": 0.25})
    assert est.fit(X, y) is est
    np.testing.assert_array_equal(est.classes_, [0, 1])
    assert est.n_iter_ == len(est.history_) == 3
    assert isinstance(est.module_, torch.nn.Module) and not est.module_.training
    assert est.image_shape_ == (16, 16) and est.n_features_in_ == 16
    for epoch, h in enumerate(est.history_, start=1):
        assert h["epoch"] == epoch
        assert h["n_triplets"] > 0 and h["val_n_triplets"] > 0
        assert 0 <= h["active_fraction"] <= 1 and 0 <= h["val_active_fraction"] <= 1
        assert 0 <= h["loss"] <= est.margin and np.isfinite(h["val_loss"])
        assert h["seconds"] > 0 and h["triplets_per_s"] > 0
    no_val = TripletEmbedder(**{**FAST, "validation_fraction": 0.0}).fit(X, y)
    assert np.isnan(no_val.history_[0]["val_loss"])
    names = np.array(["multi hit", "single hit"])[y]
    strings = TripletEmbedder(**FAST).fit(X, names)
    np.testing.assert_array_equal(strings.classes_, ["multi hit", "single hit"])
    np.testing.assert_array_equal(
        strings.transform(X), TripletEmbedder(**FAST).fit(X, y).transform(X)
    )


def test_zero_epochs_keeps_initial_network(data):
    X, y = data
    est = TripletEmbedder(**{**FAST, "max_epochs": 0}).fit(X, y)
    assert est.n_iter_ == 0 and est.history_ == []
    np.testing.assert_allclose(np.linalg.norm(est.transform(X), axis=1), 1, rtol=1e-5)


def test_early_stopping_stops_before_max_epochs(data):
    X, y = data
    est = TripletEmbedder(**{**FAST, "max_epochs": 40, "n_iter_no_change": 2, "tol": 0.5})
    est.fit(X, y)
    assert est.n_iter_ < 40


def test_verbose_reports_progress(data, capsys):
    X, y = data
    TripletEmbedder(**{**FAST, "verbose": 1}).fit(X, y)
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "triplets_per_s" in out and "total" in out


@pytest.mark.parametrize("mining", ["hard", "random", "all"])
def test_other_mining_strategies_and_prelu(data, mining):
    X, y = data
    est = TripletEmbedder(**{**FAST, "mining": mining, "activation": "prelu"}).fit(X, y)
    assert est.transform(X).shape == (len(X), 4)


def test_custom_network_factory(data):
    X, y = data
    calls = []

    def network(image_shape, n_components):
        calls.append((image_shape, n_components))
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, n_components))

    est = TripletEmbedder(**FAST, network=network, normalize=None).fit(X, y)
    assert calls == [((16, 16), 4)]
    Z = est.transform(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)

    bad = TripletEmbedder(**FAST, network=lambda s, k: torch.nn.Flatten())
    with pytest.raises(ValueError, match="expected \\(2, n_components=4\\)"):
        bad.fit(X, y)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        TripletEmbedder(**FAST, network=lambda s, k: "net").fit(X, y)


def test_named_networks(data):
    from skspeckle.nn.networks.speckle_net import SpeckleNet
    from skspeckle.nn.networks.speckle_net_small import SmallSpeckleNet

    X, y = data
    small = TripletEmbedder(**FAST, network="speckle_nn_small", activation="prelu").fit(X, y)
    assert isinstance(small.module_.network, SmallSpeckleNet)
    assert isinstance(small.module_.network.features[2], torch.nn.PReLU)  # activation applies
    Z = small.transform(X)
    assert Z.shape == (len(X), 4)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)
    # The default and None (the default before the named networks) both build SpeckleNN's
    # network, with the same weights for the same seed.
    default = TripletEmbedder(**FAST).fit(X, y)
    assert default.network == "speckle_nn" and isinstance(default.module_.network, SpeckleNet)
    none = TripletEmbedder(**FAST, network=None).fit(X, y)
    np.testing.assert_array_equal(none.transform(X), default.transform(X))
    with pytest.raises(ValueError, match="'network' parameter .*'speckle_nn_small'"):
        TripletEmbedder(**FAST, network="resnet").fit(X, y)


def test_small_network_pickles_and_fine_tunes(data):
    X, y = data
    small = TripletEmbedder(**FAST, network="speckle_nn_small").fit(X, y)
    clone = pickle.loads(pickle.dumps(small))
    np.testing.assert_array_equal(clone.transform(X), small.transform(X))
    assert type(clone.module_.network) is type(small.module_.network)
    # init_from between two small networks; into the full network the shapes differ.
    tuned = TripletEmbedder(**FAST, network="speckle_nn_small", init_from=small, freeze=1)
    assert tuned.fit(X, y).transform(X).shape == (len(X), 4)
    with pytest.raises(ValueError, match="features"):
        TripletEmbedder(**FAST, init_from=small).fit(X, y)


# ------------------------------------------------------------------ bad input


def test_bad_input_errors(fitted, data):
    X, y = data
    est = TripletEmbedder(**FAST)
    with pytest.raises(ValueError, match="dimension"):
        est.fit(X[:, 0, 0], y)
    with pytest.raises(ValueError, match="dimension"):
        est.fit(X[:, None], y)
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(X[:0], y[:0])
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[3, 2, 2] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            est.fit(Xb, y)
        with pytest.raises(ValueError, match="NaN|infinity"):
            fitted.transform(Xb)
    with pytest.raises(ValueError, match="at least 2 classes"):
        est.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="requires y"):
        est.fit(X)
    with pytest.raises(ValueError, match="Unknown label type|continuous"):
        est.fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y, groups=np.zeros(3))
    with pytest.raises(ValueError, match="1-D"):
        est.fit(X, y, groups=np.zeros((len(X), 2)))
    with pytest.raises(
        ValueError, match="shape \\(16, 12\\).*fitted on frames of shape \\(16, 16\\)"
    ):
        fitted.transform(np.zeros((2, 16, 12), dtype=np.float32))
    with pytest.raises(ValueError, match="features"):
        fitted.transform(np.zeros((2, 144), dtype=np.float32))
    with pytest.raises(NotFittedError):
        TripletEmbedder().transform(X)


def test_invalid_parameters(data):
    X, y = data
    for params in (
        {"margin": 0.0},
        {"margin": 4.5},
        {"mining": "easy"},
        {"batch_size": 1},
        {"augment": object()},
        {"normalize": "minmax"},
        {"activation": "tanh"},
        {"precision": "float8"},
    ):
        with pytest.raises(ValueError):
            TripletEmbedder(**{**FAST, **params}).fit(X, y)
    with pytest.raises(TypeError, match="augment_tensor"):
        TripletEmbedder(**FAST, augment=[object()]).fit(X, y)
    with pytest.raises(ValueError, match="not a device"):
        TripletEmbedder(**{**FAST, "device": "gpu"}).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda(data):
    X, y = data
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        TripletEmbedder(**{**FAST, "device": "cuda"}).fit(X, y)


def test_warnings_for_degenerate_training_sets(data):
    X, y = data
    with pytest.warns(UserWarning, match="no \\(anchor, positive\\) pair"):
        TripletEmbedder(**FAST).fit(X, y, groups=np.arange(len(X)))
    with pytest.warns(UserWarning, match="training without a validation set"):
        TripletEmbedder(**FAST).fit(X[[0, 1, 12, 13]], y[[0, 1, 12, 13]])


# -------------------------------------------------------------------- groups


class _RecordingEmbedder(TripletEmbedder):
    """Remembers the groups each fit received."""

    received = []

    def fit(self, X, y=None, groups=None):
        _RecordingEmbedder.received.append(
            (len(X), None if groups is None else np.asarray(groups).copy())
        )
        return super().fit(X, y, groups=groups)


def _grouped(n_groups=4, per_group=6):
    X, y = _blobs(n_groups * per_group // 2)
    groups = np.concatenate([np.repeat(np.arange(n_groups), per_group // 2)] * 2)
    return X, y, groups


def _search(**embedder_params):
    pipe = Pipeline(
        [
            ("tripletembedder", _RecordingEmbedder(**FAST, **embedder_params)),
            ("clf", NearestCentroid()),
        ]
    )
    return GridSearchCV(pipe, {"tripletembedder__margin": [0.2, 0.5]}, cv=GroupKFold(2))


def test_groups_mining_uses_groups(data):
    X, y = data
    # one positive pair per class only when groups are honoured
    groups = np.arange(len(X))
    groups[[1, 13]] = groups[[0, 12]]
    with pytest.warns(UserWarning, match="validation"):
        est = TripletEmbedder(**{**FAST, "batch_size": 24}).fit(
            X[[0, 1, 2, 3, 12, 13, 14, 15]],
            y[[0, 1, 2, 3, 12, 13, 14, 15]],
            groups=groups[[0, 1, 2, 3, 12, 13, 14, 15]],
        )
    # 2 ordered (a, p) pairs per class, each with its single triplet: 4 per epoch
    assert [h["n_triplets"] for h in est.history_] == [4, 4]


@pytest.mark.parametrize("explicit_request", [False, True])
def test_groups_routed_through_pipeline_and_grid_search(explicit_request):
    X, y, groups = _grouped()
    _RecordingEmbedder.received = []
    with sklearn.config_context(enable_metadata_routing=True):
        search = _search()
        if explicit_request:
            search.estimator.named_steps["tripletembedder"].set_fit_request(groups=True)
        search.fit(X, y, groups=groups)
    # 2 candidates x 2 folds + the refit, each with its fold's groups
    assert len(_RecordingEmbedder.received) == 5
    for n, g in _RecordingEmbedder.received:
        assert g is not None and len(g) == n
    assert sorted(_RecordingEmbedder.received[-1][1]) == sorted(groups)  # refit on all


def test_groups_request_can_be_switched_off():
    X, y, groups = _grouped()
    _RecordingEmbedder.received = []
    with sklearn.config_context(enable_metadata_routing=True):
        search = _search()
        search.estimator.named_steps["tripletembedder"].set_fit_request(groups=False)
        search.fit(X, y, groups=groups)
    assert all(g is None for _, g in _RecordingEmbedder.received)


def test_groups_plain_fit_params_without_routing():
    X, y, groups = _grouped()
    _RecordingEmbedder.received = []
    pipe = Pipeline([("tripletembedder", _RecordingEmbedder(**FAST)), ("clf", NearestCentroid())])
    pipe.fit(X, y, tripletembedder__groups=groups)
    np.testing.assert_array_equal(_RecordingEmbedder.received[-1][1], groups)
    # GridSearchCV forwards fit params (split per fold) while groups= goes to the splitter
    _RecordingEmbedder.received = []
    _search().fit(X, y, groups=groups, tripletembedder__groups=groups)
    assert len(_RecordingEmbedder.received) == 5
    assert all(g is not None and len(g) == n for n, g in _RecordingEmbedder.received)


ROUTING_OFF = (
    r"{caller} was given groups, but with scikit-learn's metadata routing off \(the default\) "
    r"it passes them to its splitter only: \w+Embedder\.fit received none.*"
    r"sklearn\.set_config\(enable_metadata_routing=True\).*set_fit_request\(groups=True\)"
)


def _routing_warnings(record):
    return [str(w.message) for w in record if "metadata routing off" in str(w.message)]


def test_groups_held_back_by_a_search_without_routing_warn():
    X, y, groups = _grouped()
    with pytest.warns(UserWarning, match=ROUTING_OFF.format(caller="GridSearchCV")) as record:
        _search().fit(X, y, groups=groups)
    assert (
        "search.fit(X, y, groups=groups, tripletembedder__groups=groups)"
        in (_routing_warnings(record)[0])
    )
    pipe = _search().estimator
    with pytest.warns(UserWarning, match=ROUTING_OFF.format(caller="cross_val_score")) as record:
        cross_val_score(pipe, X, y, groups=groups, cv=GroupKFold(2))
    assert "params={'tripletembedder__groups': groups}" in _routing_warnings(record)[0]
    # Without a pipeline there is no fit parameter to suggest, only routing.
    embedder = GridSearchCV(
        TripletEmbedder(**FAST), {"margin": [0.5]}, cv=GroupKFold(2), scoring=lambda *a: 0.0
    )
    with pytest.warns(UserWarning, match=ROUTING_OFF.format(caller="GridSearchCV")) as record:
        embedder.fit(X, y, groups=groups)
    assert "__groups" not in _routing_warnings(record)[0]


def test_no_routing_warning_where_groups_arrive_or_were_never_given():
    X, y, groups = _grouped()
    pipe = _search().estimator
    fits = [
        lambda: pipe.fit(X, y),
        lambda: pipe.fit(X, y, tripletembedder__groups=groups),
        lambda: GridSearchCV(pipe, {"tripletembedder__margin": [0.5]}, cv=2).fit(X, y),
        lambda: _search().fit(X, y, groups=groups, tripletembedder__groups=groups),
        lambda: cross_val_score(
            pipe, X, y, groups=groups, cv=GroupKFold(2), params={"tripletembedder__groups": groups}
        ),
    ]
    for fit in fits:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fit()
        assert _routing_warnings(record) == []
    with sklearn.config_context(enable_metadata_routing=True):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            _search().fit(X, y, groups=groups)
    assert _routing_warnings(record) == []
    # groups= straight to a Pipeline without routing is scikit-learn's own error, never silent.
    with pytest.raises(ValueError, match="does not accept the groups parameter"):
        pipe.fit(X, y, groups=groups)


# ------------------------------------------------------------------- augment


class _StubAugment:
    """Implements the augmentation protocol: adds Poisson-free jitter, records calls."""

    def __init__(self, scale=0.5):
        self.scale = scale
        self.calls = []

    def augment_tensor(self, x, generator):
        self.calls.append((tuple(x.shape), x.dtype, x.device.type, type(generator)))
        noise = torch.rand(x.shape, generator=generator, device=x.device)
        return x + self.scale * noise


def test_augment_called_at_fit_only(data):
    X, y = data
    first, second = _StubAugment(), _StubAugment(0.1)
    est = TripletEmbedder(**FAST, augment=[first, second]).fit(X, y)
    assert len(first.calls) > 0 and len(second.calls) == len(first.calls)
    shape, dtype, device, gen_type = first.calls[0]
    assert shape[1:] == (16, 16) and dtype == torch.float32 and device == "cpu"
    assert gen_type is torch.Generator
    n_calls = len(first.calls)
    Z = est.transform(X)
    assert len(first.calls) == n_calls  # not at transform
    np.testing.assert_array_equal(Z, est.transform(X))
    # the augmentation draws from the estimator's seeded generator: reproducible
    again = TripletEmbedder(**FAST, augment=_StubAugment()).fit(X, y)
    np.testing.assert_array_equal(
        again.transform(X), TripletEmbedder(**FAST, augment=_StubAugment()).fit(X, y).transform(X)
    )
    assert not np.array_equal(again.transform(X), TripletEmbedder(**FAST).fit(X, y).transform(X))


def test_augment_must_keep_shape(data):
    X, y = data

    class Crop:
        def augment_tensor(self, x, generator):
            return x[:, 1:, 1:]

    with pytest.raises(ValueError, match="same shape|shape it was given"):
        TripletEmbedder(**FAST, augment=Crop()).fit(X, y)


# ------------------------------------------------------------------ learning


def test_training_improves_few_shot_accuracy():
    """5-shot nearest-centroid accuracy on held-out toy speckle patterns.

    Measured with the default normalize="log1p" (seed 0): untrained 0.71, trained 0.96.
    """
    torch_threads = torch.get_num_threads()
    X_train, y_train = _speckle(40, seed=0)
    X_test, y_test = _speckle(40, seed=1)
    params = dict(n_components=16, random_state=0, device="cpu")
    untrained = TripletEmbedder(**params, max_epochs=0).fit(X_train, y_train)
    trained = TripletEmbedder(**params, max_epochs=40).fit(X_train, y_train)
    acc_untrained = _few_shot_accuracy(untrained.transform(X_test), y_test)
    acc_trained = _few_shot_accuracy(trained.transform(X_test), y_test)
    assert acc_trained > 0.85
    assert acc_trained > acc_untrained + 0.12, (acc_untrained, acc_trained)
    assert torch.get_num_threads() == torch_threads


# ------------------------------------------------------------ transfer learning


def _conv_state(emb):
    return emb.module_.network.features.state_dict()


def test_fine_tuning_with_frozen_features_keeps_them_bit_identical(fitted):
    X, y = _blobs(n_classes=3, seed=1)  # a new task: the pretrained embedding must move
    tuned = TripletEmbedder(**FAST, init_from=fitted, freeze="features").fit(X, y)
    assert all(torch.equal(v, _conv_state(tuned)[k]) for k, v in _conv_state(fitted).items())
    head_before = fitted.module_.network.head.state_dict()
    assert not all(
        torch.equal(v, tuned.module_.network.head.state_dict()[k]) for k, v in head_before.items()
    )


def test_fine_tuning_unfrozen_or_partially_frozen_changes_the_features(fitted):
    X, y = _blobs(n_classes=3, seed=1)
    tuned = TripletEmbedder(**FAST, init_from=fitted, freeze=1).fit(X, y)
    before, after = _conv_state(fitted), _conv_state(tuned)
    assert torch.equal(before["0.weight"], after["0.weight"])  # first convolution frozen
    assert not torch.equal(before["4.weight"], after["4.weight"])  # last one trains
    free = TripletEmbedder(**FAST, init_from=fitted).fit(X, y)
    assert not torch.equal(before["0.weight"], _conv_state(free)["0.weight"])


def test_init_from_a_weights_file_and_mismatch(fitted, data, tmp_path):
    X, y = data
    path = tmp_path / "embedder.pt"
    torch.save(fitted.module_.network.state_dict(), path)
    same = TripletEmbedder(**{**FAST, "max_epochs": 0}, init_from=path).fit(X, y)
    np.testing.assert_array_equal(same.transform(X), fitted.transform(X))
    with pytest.raises(ValueError, match=r"missing from the source: features\.1\.weight"):
        TripletEmbedder(**FAST, init_from=fitted, activation="prelu").fit(X, y)


def test_freeze_needs_features(data):
    X, y = data

    def mlp(shape, n):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(shape[0] * shape[1], n))

    with pytest.raises(TypeError, match=r"freeze='features' needs a network with .*\.features"):
        TripletEmbedder(**FAST, network=mlp, freeze="features").fit(X, y)


def test_bfloat16_mixed_precision_trains_and_embeds_unit_vectors(data, fitted):
    X, y = data
    emb = TripletEmbedder(**{**FAST, "precision": "bfloat16"}).fit(X, y)
    assert all(np.isfinite(h["loss"]) for h in emb.history_)
    # Same seed, same batches: only the precision differs, and it changed the training.
    w16 = emb.module_.network.features[0].weight
    w32 = fitted.module_.network.features[0].weight
    assert not torch.equal(w16, w32)
    torch.testing.assert_close(w16, w32, rtol=0.05, atol=0.05)
    Z = emb.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    Z32 = emb.set_params(precision="float32").transform(X)  # same weights, full precision
    assert not np.array_equal(Z, Z32)
    assert np.sum(Z * Z32, axis=1).min() > 0.99  # cosine similarity
