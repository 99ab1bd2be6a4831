"""Model files: identical predictions after a round trip, no code run from a hostile file,
corruption detected before anything is deserialised, versions checked."""

import copy
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors
from sklearn.base import BaseEstimator, clone
from sklearn.preprocessing import FunctionTransformer
from test_common import INSTANCES

import skspeckle
from skspeckle import FewShotCentroidClassifier, TripletEmbedder
from skspeckle.baselines import make_pca_svc
from skspeckle.persistence import (
    ModelVersionWarning,
    UntrustedTypesError,
    _compatible,
    _header_digest,
    load_model,
    read_model_header,
    save_model,
    trusted_types,
)
from skspeckle.utils.discovery import all_estimators

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*validation_fraction=.* cannot hold"),
    pytest.mark.filterwarnings("ignore:X is 2-D with .* not a square image"),
    pytest.mark.filterwarnings("ignore:Graph is not fully connected"),
]

_OUTPUTS = ("predict", "predict_proba", "decision_function", "transform")


@pytest.fixture(scope="module")
def fitted(small_fitted_pipeline):
    pipe, X, _ = small_fitted_pipeline
    return pipe, X


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(40, 16, 16)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    X[y == 1, 4:12, 4:12] += 5
    return X, y


def _outputs(estimator, X):
    return {m: getattr(estimator, m)(X) for m in _OUTPUTS if hasattr(estimator, m)}


def _assert_same_outputs(loaded, outputs, X):
    got = _outputs(loaded, X)
    assert got.keys() == outputs.keys() and outputs
    for method, expected in outputs.items():
        assert np.array_equal(got[method], expected), method


def _fit_data(name, frames):
    X, y = frames
    if name in ("CNN1DClassifier", "DiffusionMapEmbedding", "FewShotCentroidClassifier"):
        return X.reshape(len(X), -1)[:, :64], y  # profiles / vectors / embeddings
    if name == "QGridResampler":  # its instance's source detector is a 1 x 3 strip
        return X[:, :1, :3], y
    return X, y


def _rewrite_header(path, *, rehash=True, **changes):
    magic, line, payload = path.read_bytes().split(b"\n", 2)
    header = json.loads(line)
    header.update(changes)
    if rehash and "header_sha256" in header:
        header["header_sha256"] = _header_digest(header)
    path.write_bytes(magic + b"\n" + json.dumps(header).encode() + b"\n" + payload)


def _write_v1(path, obj):
    """A model file as skspeckle 0.1 wrote it: header + joblib pickle (format 1)."""
    header = {"format_version": 1, "skspeckle": skspeckle.__version__, "estimator": "x"}
    with open(path, "wb") as f:
        f.write(b"skspeckle-model\n" + json.dumps(header).encode() + b"\n")
        joblib.dump(obj, f)


class _Exploit:
    """Writes the marker file when an unsafe loader restores it (pickle's __reduce__,
    skops's __setstate__)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        open(state["marker"], "w").close()
        self.__dict__.update(state)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _MyScaler(BaseEstimator):
    def fit(self, X, y=None):
        self.scale_ = 2.0
        return self


# ----------------------------------------------------------------------------- round trips


def test_round_trip_identical_predictions(tmp_path, fitted):
    pipe, X = fitted
    before = torch.random.get_rng_state()
    path = save_model(pipe, tmp_path / "model.skops")
    assert os.listdir(tmp_path) == ["model.skops"]
    header = read_model_header(path)
    assert header["skspeckle"] == skspeckle.__version__ and header["format_version"] == 2
    assert header["sklearn"] and header["torch"] and header["estimator"] == "Pipeline"
    loaded = load_model(path)
    assert loaded is not pipe and loaded[1].module_ is not pipe[1].module_
    _assert_same_outputs(loaded, _outputs(pipe, X), X)
    tensors = list(loaded[1].module_.parameters()) + list(loaded[1].module_.buffers())
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert not loaded[1].module_.training
    # Rebuilding the network draws initial weights in a fork of torch's random state.
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_every_estimator_round_trips(name, frames, tmp_path):
    estimator = clone(INSTANCES[name][0])
    X, y = _fit_data(name, frames)
    estimator.fit(X, y)
    outputs = _outputs(estimator, X)
    _assert_same_outputs(load_model(save_model(estimator, tmp_path / "m.skops")), outputs, X)
    # The same state serves pickle and copy: they give identical outputs too.
    _assert_same_outputs(pickle.loads(pickle.dumps(estimator)), outputs, X)
    _assert_same_outputs(copy.deepcopy(estimator), outputs, X)


def test_every_estimator_is_trusted():
    assert {name for name, _ in all_estimators()} == set(INSTANCES)
    names = set(trusted_types())
    for _, cls in all_estimators():
        assert f"{cls.__module__}.{cls.__qualname__}" in names


def test_pca_svc_and_custom_network_round_trip(tmp_path, frames):
    X, y = frames
    flat = X.reshape(len(X), -1)
    pipe = make_pca_svc(n_components=4).fit(flat, y)
    _assert_same_outputs(
        load_model(save_model(pipe, tmp_path / "svc.skops")), _outputs(pipe, flat), flat
    )
    # A network factory of skspeckle.nn.networks, as the TripletEmbedder docstring suggests.
    import functools

    from skspeckle.nn.networks.speckle_net import speckle_net

    emb = TripletEmbedder(
        n_components=3,
        network=functools.partial(speckle_net, init="paper"),
        max_epochs=1,
        batch_size=16,
        random_state=0,
        device="cpu",
    ).fit(X, y)
    loaded = load_model(save_model(emb, tmp_path / "emb.skops"))
    assert np.array_equal(loaded.transform(X), emb.transform(X))


def test_small_network_round_trips_by_name_and_as_factory(tmp_path, frames):
    import functools

    from skspeckle.nn.networks.speckle_net_small import SmallSpeckleNet, speckle_net_small

    X, y = frames
    for i, network in enumerate(
        ["speckle_nn_small", functools.partial(speckle_net_small, hidden=16)]
    ):
        emb = TripletEmbedder(
            n_components=3,
            network=network,
            max_epochs=1,
            batch_size=16,
            random_state=0,
            device="cpu",
        ).fit(X, y)
        loaded = load_model(save_model(emb, tmp_path / f"small{i}.skops"))
        assert isinstance(loaded.module_.network, SmallSpeckleNet)
        assert np.array_equal(loaded.transform(X), emb.transform(X))


def test_file_holds_cpu_safetensors_only(tmp_path, fitted):
    pipe, _ = fitted
    embedder = pipe[1]
    state = embedder.__getstate__()
    assert "module_" not in state and embedder.module_ is not None  # the estimator is unchanged
    tensors = load_safetensors(state["_module_states"]["module_"]["safetensors"])
    reference = embedder.module_.state_dict()
    assert tensors.keys() == reference.keys()
    for key, value in tensors.items():
        assert value.device.type == "cpu" and torch.equal(value, reference[key])
    # The payload is a zip of a JSON schema, .npy arrays and the safetensors blobs: no pickle.
    path = save_model(pipe, tmp_path / "m.skops")
    payload = path.read_bytes().split(b"\n", 2)[2]
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        names = archive.namelist()
        assert "schema.json" in names
        assert all(n == "schema.json" or n.endswith((".npy", ".bin")) for n in names)
        blobs = [archive.read(n) for n in names if n.endswith(".bin")]
    assert any(set(load_safetensors(blob)) == set(reference) for blob in blobs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_model_fitted_on_cuda_loads_on_cpu(tmp_path, frames):
    X, y = frames
    emb = TripletEmbedder(n_components=3, max_epochs=1, batch_size=16, random_state=0)
    emb.set_params(device="cuda").fit(X, y)
    emb.module_.cuda()  # even a module left on the GPU is stored as CPU data
    path = save_model(emb.set_params(device="cpu"), tmp_path / "m.skops")
    np.save(tmp_path / "X.npy", X)
    code = (
        "import numpy as np, torch; from skspeckle.persistence import load_model; "
        f"m = load_model({str(path)!r}); assert not torch.cuda.is_available(); "
        f"np.save({str(tmp_path / 'E.npy')!r}, m.transform(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    emb.module_.cpu()
    assert np.array_equal(np.load(tmp_path / "E.npy"), emb.transform(X))


# ------------------------------------------------------------------------- hostile files


def test_untrusted_type_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "marker"
    with pytest.warns(UserWarning, match="_Exploit"):
        path = save_model(_Exploit(marker), tmp_path / "m.skops")  # valid header, checksums
    with pytest.raises(UntrustedTypesError, match="not trusted: .*_Exploit") as info:
        load_model(path)
    assert "trusted=[" in str(info.value) and info.value.types[0].endswith("_Exploit")
    assert not marker.exists()
    # The payload is live: trusting the type explicitly runs its __setstate__.
    load_model(path, trusted=info.value.types)
    assert marker.exists()


def test_custom_types_need_explicit_trust(tmp_path, frames):
    X, _ = frames
    model = _MyScaler().fit(X)
    with pytest.warns(UserWarning, match="trusted="):
        path = save_model(model, tmp_path / "m.skops")
    with pytest.raises(UntrustedTypesError, match="_MyScaler"):
        load_model(path)
    assert load_model(path, trusted=[_MyScaler]).scale_ == 2.0


def test_old_pickle_files_refused_unless_opted_in(tmp_path, fitted):
    marker = tmp_path / "marker"
    hostile = tmp_path / "hostile.joblib"
    _write_v1(hostile, _Exploit(marker))
    with pytest.raises(ValueError, match="allow_pickle=True") as info:
        load_model(hostile)
    assert "old-format" in str(info.value) and "runs any code" in str(info.value)
    assert not marker.exists()
    pipe, X = fitted
    old = tmp_path / "old.joblib"
    _write_v1(old, pipe)
    assert read_model_header(old)["format_version"] == 1
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_model(old)
    _assert_same_outputs(load_model(old, allow_pickle=True), _outputs(pipe, X), X)


def test_unstorable_objects_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="cannot be saved in the safe model format"):
        save_model(FunctionTransformer(kw_args={"t": torch.zeros(3)}), tmp_path / "m.skops")
    assert os.listdir(tmp_path) == []


# -------------------------------------------------------------------------- damaged files


@pytest.fixture(scope="module")
def saved_bytes(fitted, tmp_path_factory):
    path = save_model(fitted[0], tmp_path_factory.mktemp("saved") / "m.skops")
    return path.read_bytes()


@pytest.mark.parametrize("where", [0.0, 0.001, 0.25, 0.5, 0.75, 0.999, 1.0])
def test_bit_flip_in_payload_is_detected(tmp_path, saved_bytes, where):
    start = saved_bytes.index(b"\n", len(b"skspeckle-model\n")) + 1
    data = bytearray(saved_bytes)
    position = min(start + int(where * (len(data) - start)), len(data) - 1)
    data[position] ^= 0x10
    path = tmp_path / "m.skops"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is corrupt: the SHA-256 of its model data"):
        load_model(path)


@pytest.mark.parametrize("field", ["skspeckle", "estimator", "payload_sha256", "format_version"])
def test_bit_flip_in_header_is_detected(tmp_path, saved_bytes, field):
    magic_end = len(b"skspeckle-model\n")
    line_end = saved_bytes.index(b"\n", magic_end)
    key = saved_bytes.index(f'"{field}": '.encode(), magic_end, line_end)
    value = key + len(field) + 4
    position = value + (saved_bytes[value : value + 1] == b'"')  # inside the value
    data = bytearray(saved_bytes)
    data[position] ^= 0x01
    path = tmp_path / "m.skops"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged skspeckle model header"):
        read_model_header(path)
    with pytest.raises(ValueError, match="damaged skspeckle model header"):
        load_model(path)


def test_truncation_and_foreign_files(tmp_path, saved_bytes, fitted):
    path = tmp_path / "m.skops"
    path.write_bytes(saved_bytes[: len(saved_bytes) - 100])
    with pytest.raises(ValueError, match="is truncated: the model data holds"):
        load_model(path)
    path.write_bytes(saved_bytes[:20])
    with pytest.raises(ValueError, match="damaged"):
        load_model(path)
    path.write_bytes(saved_bytes + b"x")
    with pytest.raises(ValueError, match="is corrupt"):
        load_model(path)
    foreign = tmp_path / "plain.joblib"
    joblib.dump(fitted[0], foreign)
    with pytest.raises(ValueError, match="not a skspeckle model file"):
        load_model(foreign)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.skops")


# ------------------------------------------------------------------------------- versions


def test_version_rule(tmp_path, fitted):
    assert _compatible("0.1.0", "0.1.7") and _compatible("0.1.0rc1", "0.1.0")
    assert not _compatible("0.2.0", "0.1.0") and not _compatible("1.0.0", "0.1.0")
    assert _compatible("1.2.0", "1.5.1") and not _compatible("2.0", "1.9")
    assert not _compatible("unknown", "0.1.0")
    path = save_model(fitted[0], tmp_path / "m.skops")
    major, minor = (int(v) for v in skspeckle.__version__.split(".")[:2])
    _rewrite_header(path, skspeckle=f"{major}.{minor}.99")
    load_model(path)  # a patch release of the same major.minor loads
    other = f"{major}.{minor + 1}.0"
    _rewrite_header(path, skspeckle=other)
    with pytest.raises(ValueError, match="Refit") as info:
        load_model(path)
    assert other in str(info.value) and skspeckle.__version__ in str(info.value)
    _rewrite_header(path, skspeckle=skspeckle.__version__, format_version=99)
    with pytest.raises(ValueError, match="file format 99"):
        load_model(path)


def test_torch_major_and_sklearn_minor_warn(tmp_path, fitted):
    path = save_model(fitted[0], tmp_path / "m.skops")
    torch_now, sklearn_now = read_model_header(path)["torch"], read_model_header(path)["sklearn"]
    _rewrite_header(path, torch="1.13.1")
    with pytest.warns(ModelVersionWarning, match="torch 1.13.1") as record:
        load_model(path)
    assert torch_now in str(record[0].message)
    major, minor = sklearn_now.split(".")[:2]
    _rewrite_header(path, torch=torch_now, sklearn=f"{major}.{int(minor) + 1}.0")
    with pytest.warns(ModelVersionWarning, match=f"scikit-learn {major}.{int(minor) + 1}.0"):
        load_model(path)
    _rewrite_header(path, sklearn=f"{major}.{minor}.99")  # another patch release: silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        load_model(path)


# ---------------------------------------------------------------------------------- writes


def test_overwrite_protection_and_interrupted_save(tmp_path, fitted, monkeypatch):
    path = save_model(fitted[0], tmp_path / "m.skops")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(FewShotCentroidClassifier(), path)
    assert path.read_bytes() == before
    save_model(FewShotCentroidClassifier(k=3), path, overwrite=True)
    assert load_model(path).k == 3
    assert hashlib.sha256(path.read_bytes()).hexdigest() != hashlib.sha256(before).hexdigest()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)  # after the bytes are written, before rename
    with pytest.raises(KeyboardInterrupt):
        save_model(fitted[0], path, overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        save_model(fitted[0], tmp_path / "new.skops")
    assert os.listdir(tmp_path) == ["m.skops"] and load_model(path).k == 3
