"""Every baseline once, on one small SPI task and one small SFX task: a sanity table.

Usage::

    .venv/bin/python benchmarks/paper/baselines_overview.py --scale full   # the results page
    .venv/bin/python benchmarks/paper/baselines_overview.py                # quick smoke run

Not a paper reproduction (that is ``online_table1.py``, ``sfx_crossdataset.py``): one split,
one seed, small data, so that each estimator of :mod:`skspeckle.baselines` is seen to learn.

- SPI: 1bxn, 48 x 48 frames, three classes; ``--scale full`` trains on 60 and tests on 60
  frames per class. Shi19 is scored on single hit vs rest. DANN adapts from the default
  fluence to 3x the fluence (unlabelled target frames), scored on the target. The
  transductive spectral and diffusion-map clusterings are fitted on 5 labelled training
  frames per class and the test frames (unlabelled), scored on the test frames'
  ``transduction_``.
- SFX: ``make_sfx_frames`` preset ``cxi-cspad`` (128 x 128, hit / maybe / miss), 300 training
  and 300 test frames; the row-wise decomposition + 1-D CNN is also tested on the
  ``mfx-rayonix`` preset (cross-dataset, no adaptation).
- The real CBF frames (when ``../shared/data`` is present): the number of peaks
  :func:`~skspeckle.baselines.find_peaks` finds in each whole frame.
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline

from skspeckle import FewShotCentroidClassifier, TripletEmbedder
from skspeckle.baselines import (
    CNN1DClassifier,
    DANNClassifier,
    DiffusionMapFewShotClassifier,
    HitFinderCNN,
    PeakCountClassifier,
    PretrainedFeatures,
    ResNetClassifier,
    RowWiseDecomposition,
    Shi19Classifier,
    SpectralFewShotClassifier,
    TotalIntensityClassifier,
    find_peaks,
    make_pca_svc,
)
from skspeckle.datasets import make_sfx_frames, make_speckle_patterns
from skspeckle.io import read_cbf

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "baselines_overview"
SCALES = {
    "quick": {"n_spi": 10, "n_sfx": 40, "epochs": 2},
    "full": {"n_spi": 60, "n_sfx": 300, "epochs": 30},
}
CBF_DIR = _common.ROOT.parent / "shared" / "data" / "real_frames" / "sfx_cbf"


def _record(rows, name, truth, pred, seconds):
    rows.append(
        {
            "model": name,
            "accuracy": accuracy_score(truth, pred),
            "balanced_accuracy": balanced_accuracy_score(truth, pred),
            "seconds": seconds,
        }
    )
    print(
        f"{name:58s} acc={rows[-1]['accuracy']:.3f} "
        f"bal_acc={rows[-1]['balanced_accuracy']:.3f} ({seconds:.1f} s)"
    )


def _score(rows, name, model, train, test, **fit):
    (X, y), (Xt, yt) = train, test
    t0 = time.perf_counter()
    pred = model.fit(X, y, **fit).predict(Xt)
    _record(rows, name, yt, pred, time.perf_counter() - t0)
    return model


def _score_transductive(rows, name, model, train, test, n_labelled=5):
    """``_score`` for the transductive baselines: fitted on the first ``n_labelled`` training
    frames of each class and the test frames (unlabelled), scored on the test frames."""
    (X, y), (Xt, yt) = train, test
    sup = np.concatenate([np.flatnonzero(y == c)[:n_labelled] for c in np.unique(y)])
    y_fit = np.concatenate([y[sup], np.full(len(Xt), "unlabeled")])
    t0 = time.perf_counter()
    model.set_params(unlabeled="unlabeled").fit(np.concatenate([X[sup], Xt]), y_fit)
    _record(rows, name, yt, model.transduction_[len(sup) :], time.perf_counter() - t0)


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    s = SCALES[args.scale]
    n, e, seed = s["n_spi"], s["epochs"], args.seed
    kw = dict(random_state=seed, device=args.device)

    X, y, _ = make_speckle_patterns(["1bxn"], n_per_class=2 * n, random_state=seed)
    train = np.concatenate([np.arange(k * 2 * n, k * 2 * n + n) for k in range(3)])
    test = np.setdiff1d(np.arange(len(y)), train)
    single = np.where(y == "single-hit", "single-hit", "rest")
    flat = X.reshape(len(X), -1)
    Xt, yt, _ = make_speckle_patterns(
        ["1bxn"], n_per_class=2 * n, n_photons=3e12, random_state=seed + 1
    )
    spi = []
    _score(
        spi,
        "SpeckleNN: TripletEmbedder + FewShotCentroidClassifier(k=5)",
        make_pipeline(
            TripletEmbedder(max_epochs=e, **kw), FewShotCentroidClassifier(k=5, random_state=seed)
        ),
        (X[train], y[train]),
        (X[test], y[test]),
    )
    _score(
        spi,
        "Shi19Classifier(threshold=0.9), single vs rest",
        Shi19Classifier("single-hit", threshold=0.9, max_epochs=2 * e, learning_rate=1e-2, **kw),
        (X[train], y[train]),
        (X[test], single[test]),
    )
    _score(
        spi,
        "ResNetClassifier(n=1, m=1)",
        ResNetClassifier(1, 1, max_epochs=e, **kw),
        (X[train], y[train]),
        (X[test], y[test]),
    )
    _score(
        spi,
        "PretrainedFeatures(random VGG11, width 0.25) + LogisticRegression",
        make_pipeline(
            PretrainedFeatures(architecture="vgg11", width=0.25, random_state=seed),
            LogisticRegression(max_iter=2000),
        ),
        (X[train], y[train]),
        (X[test], y[test]),
    )
    _score(
        spi, "make_pca_svc(10)", make_pca_svc(10), (flat[train], y[train]), (flat[test], y[test])
    )
    for name, model in (
        ("SpectralFewShotClassifier, 5 labels per class", SpectralFewShotClassifier),
        ("DiffusionMapFewShotClassifier, 5 labels per class", DiffusionMapFewShotClassifier),
    ):
        with warnings.catch_warnings():
            # The spectral one's graph may split (the bright non-sample hits); it still runs.
            warnings.filterwarnings("ignore", "Graph is not fully connected")
            _score_transductive(
                spi, name, model(random_state=seed), (X[train], y[train]), (X[test], y[test])
            )
    _score(
        spi,
        "DANNClassifier(ResNet), target = 3x fluence",
        DANNClassifier(ResNetClassifier(1, 1), max_epochs=e, **kw),
        (X[train], y[train]),
        (Xt[test], yt[test]),
        X_target=Xt[train],
    )

    sfx = []
    train_sfx = make_sfx_frames(s["n_sfx"], random_state=seed)
    test_sfx = make_sfx_frames(s["n_sfx"], random_state=seed + 1)
    _score(
        sfx,
        "HitFinderCNN(crop=None)",
        HitFinderCNN(crop=None, max_epochs=e // 2 + 1, **kw),
        train_sfx,
        test_sfx,
    )
    rwd = _score(
        sfx,
        "RowWiseDecomposition + CNN1DClassifier",
        make_pipeline(RowWiseDecomposition(), CNN1DClassifier(max_epochs=e, **kw)),
        train_sfx,
        test_sfx,
    )
    _score(sfx, "TotalIntensityClassifier", TotalIntensityClassifier(), train_sfx, test_sfx)
    _score(
        sfx, "PeakCountClassifier (fitted thresholds)", PeakCountClassifier(), train_sfx, test_sfx
    )
    Xm, ym = make_sfx_frames(s["n_sfx"], dataset="mfx-rayonix", random_state=seed + 2)
    cross = balanced_accuracy_score(ym, rwd.predict(Xm))
    print(f"RWD + CNN1D trained on cxi-cspad, tested on mfx-rayonix: bal_acc={cross:.3f}")

    peaks = {}
    for path in sorted(Path(CBF_DIR).glob("*.cbf")):
        peaks[path.name] = int(len(find_peaks(read_cbf(path))))
        print(f"{path.name}: {peaks[path.name]} peaks")
    _common.write_result(
        NAME,
        args,
        {
            "spi": spi,
            "sfx": sfx,
            "rwd_cxi_to_mfx_balanced_accuracy": cross,
            "real_cbf_peaks": peaks,
        },
        started,
    )


if __name__ == "__main__":
    main()
