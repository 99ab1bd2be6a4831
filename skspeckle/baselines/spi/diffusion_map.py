"""Diffusion maps (Coifman & Lafon 2006) with a Nystrom extension to new frames, and the
few-shot baseline that clusters them, named by a few labelled frames.

The diffusion-map literature of single-particle imaging (Fung et al. 2009; Giannakis,
Schwander & Ourmazd 2012) embeds all the snapshots of a run on the manifold their orientations
(and conformations) trace out; beside the spectral clustering of Yoon et al. (2011), this is
the other manifold baseline of hit sorting.

Why a new implementation: no maintained diffusion-map package installs beside this project's
scikit-learn (>= 1.6) and NumPy 2. ``datafold`` 2.0.2 (2026) pins ``scikit-learn~=1.2.1``,
``numpy<1.27`` and ``scipy<1.12``; ``pydiffmap``'s last release (0.2.0.1) is from February 2019,
needs the Python 2 shim ``six``, is no scikit-learn estimator (no ``get_params`` / ``clone``),
and its Nystrom extension does not reproduce the embedding of the fitted points (its kernel
graph is symmetrised in ``fit`` but not for new points). What is here is the textbook algorithm
on scikit-learn and SciPy building blocks.
"""

from numbers import Integral, Real

import numpy as np
from scipy import linalg, sparse
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from scipy.special import softmax
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data

from skspeckle.baselines.spi._cluster_naming import ClusterNamingClassifier
from skspeckle.baselines.spi.pca_svc import frames_to_vectors
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import Interval, StrOptions, fit_context

__all__ = ["DiffusionMapEmbedding", "DiffusionMapFewShotClassifier"]

# Two squared distances closer than this fraction of the squared norms are the same distance:
# the dot-product formula of the distances rounds at ~1e-14 of the norms, and fit and transform
# must take the same neighbours for the Nystrom extension to reproduce the fitted embedding.
_DISTANCE_TOLERANCE = 1e-9

# Up to this many points the eigenvectors come from a dense solver (a few seconds at most).
_DENSE_EIGEN_MAX = 1000

_DIFFUSION_CONSTRAINTS = {
    "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    "alpha": [Interval(Real, 0, 1, closed="both")],
    "diffusion_time": [Interval(Integral, 0, None, closed="left")],
    "epsilon": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
}


def _leading_eigenpairs(symmetric, trivial, k, rng):
    """The ``k`` largest eigenpairs of ``symmetric - trivial trivial'`` (sparse, symmetric).

    Dense ``eigh`` up to ``_DENSE_EIGEN_MAX`` points (exact, and fast at that size); ARPACK
    (Lanczos) beyond, with the dense solver as fallback: ARPACK stalls on an eigenvalue
    repeated more often than it looks for, as on a graph of many components.
    """
    n = symmetric.shape[0]
    if n > _DENSE_EIGEN_MAX:
        deflated = LinearOperator(
            symmetric.shape,
            matvec=lambda v: symmetric @ v - trivial * (trivial @ v),
            dtype=np.float64,
        )
        try:
            return eigsh(deflated, k=k, which="LA", v0=rng.uniform(-1, 1, n))
        except ArpackNoConvergence:
            pass
    dense = symmetric.toarray() - np.outer(trivial, trivial)
    return linalg.eigh(dense, subset_by_index=[n - k, n - 1])


class DiffusionMapEmbedding(TransformerMixin, BaseEstimator):
    """Diffusion-map coordinates, extended to new points by the Nystrom formula.

    ``fit`` builds a Gaussian kernel ``k(x, y) = exp(-|x - y|^2 / epsilon)`` on a symmetric
    nearest-neighbour graph (``x`` and ``y`` are joined when either is among the
    ``n_neighbors`` nearest points of the other, counting the point itself), divides it by the
    kernel density estimate ``q`` to the power ``alpha`` on both sides, normalises the rows
    into the Markov matrix ``P`` of a random walk on the points, and takes the leading
    eigenvectors ``psi_l`` (right eigenvectors of ``P``, eigenvalues
    ``1 = lambda_0 >= lambda_1 >= ...``) from the symmetric conjugate of ``P``, with the
    trivial ``psi_0 = 1`` deflated (a dense solver up to 1000 points, ARPACK beyond). The
    diffusion coordinates are ``lambda_l^t psi_l(x)``, ``l = 1 .. n_components``. ``transform``
    extends them to new points by the Nystrom formula ``psi_l(x) = sum_j p(x, x_j) psi_l(x_j) /
    lambda_l``, with ``p(x, .)`` the walk's transition probabilities from ``x``, built by the
    same rules as in ``fit``: for a fitted point it returns its fitted coordinates.

    Parameters
    ----------
    n_components : int, default=2
        Number of diffusion coordinates (the trivial constant eigenvector is left out).
    n_neighbors : int, default=10
        Neighbours of each point in the kernel graph, the point itself included (capped at
        ``n_samples``). Larger values connect the graph better and cost more memory.
    alpha : float in [0, 1], default=1.0
        Density normalisation (Coifman & Lafon 2006, Sec. 2.1): 0 is the normalised graph
        Laplacian (the spectral embedding), 1/2 the Fokker-Planck operator, 1 the
        Laplace-Beltrami operator, whose coordinates do not depend on how densely the manifold
        is sampled (the choice of the SPI diffusion-map work, where the orientations are not
        sampled uniformly).
    diffusion_time : int, default=1
        Steps ``t`` of the random walk: the coordinates are scaled by ``lambda_l^t``, so that
        Euclidean distances between them are diffusion distances at time ``t``
        (Sec. 2.2, Eq. 8); 0 gives the bare eigenvectors.
    epsilon : float or "auto", default="auto"
        Kernel bandwidth, in the units of the squared distances. ``"auto"``: the median,
        over the points, of the squared distance to the ``n_neighbors``-th nearest one (so the
        farthest neighbours weigh about ``1/e``).
    random_state : int, RandomState instance or None, default=None
        Seeds the start vector of ARPACK (used above 1000 points).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), float64
        Diffusion coordinates of the fitted points.
    eigenvalues_ : ndarray of shape (n_components,), float64
        ``lambda_1 .. lambda_n_components`` of the Markov matrix, decreasing.
    epsilon_ : float
        The bandwidth used.
    n_neighbors_ : int
        The number of neighbours used (``n_neighbors`` capped at ``n_samples``).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    DiffusionMapFewShotClassifier : Clusters the coordinates of frames into few-shot labels.
    sklearn.manifold.SpectralEmbedding : Laplacian eigenmaps (``alpha=0``, no extension).

    Notes
    -----
    R. R. Coifman and S. Lafon, "Diffusion maps", Appl. Comput. Harmon. Anal. 21, 5-30 (2006):
    the alpha-normalised kernel (Sec. 2.1, Eqs. 3-5), the diffusion coordinates (Sec. 2.2,
    Eq. 8) and their computation through the symmetric conjugate of ``P`` (Sec. 2.1). The
    Nystrom extension follows Coifman and Lafon, "Geometric harmonics", ibid. 31-52 (2006),
    Sec. 3, as for spectral embeddings in Bengio et al., "Out-of-sample extensions for LLE,
    Isomap, MDS, Eigenmaps, and spectral clustering", NIPS 16 (2004). Points are centred
    before the distances are taken (it changes no distance, and the rounding of the
    dot-product formula scales with the norms). ``fit`` and ``transform`` compute the
    distances to all fitted points in row blocks, ``O(n_samples * n_fitted * n_features)``
    time; the fitted points are kept (float64) for ``transform``.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines import DiffusionMapEmbedding
    >>> theta = np.linspace(0, np.pi, 50)
    >>> X = np.c_[np.cos(theta), np.sin(theta)]
    >>> dm = DiffusionMapEmbedding(n_components=1, random_state=0).fit(X)
    >>> dm.embedding_.shape
    (50, 1)
    >>> bool(np.allclose(dm.transform(X[:3]), dm.embedding_[:3]))
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        **_DIFFUSION_CONSTRAINTS,
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=2,
        *,
        n_neighbors=10,
        alpha=1.0,
        diffusion_time=1,
        epsilon="auto",
        random_state=None,
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.diffusion_time = diffusion_time
        self.epsilon = epsilon
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the diffusion coordinates of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points; finite.
        y : None
            Ignored.

        Returns
        -------
        self : DiffusionMapEmbedding

        Raises
        ------
        ValueError
            On non-finite values; if ``n_samples <= n_components + 1``; if every point
            coincides with its ``n_neighbors`` nearest ones (no bandwidth can be chosen); or
            if the Markov matrix has fewer than ``n_components + 1`` positive eigenvalues
            (lower ``n_components`` or raise ``n_neighbors`` / ``epsilon``).
        """
        X = validate_data(self, X, dtype=np.float64)
        n = len(X)
        if n <= self.n_components + 1:
            raise ValueError(
                f"{type(self).__name__} needs more than n_components + 1="
                f"{self.n_components + 1} samples; got n_samples={n}."
            )
        self.n_neighbors_ = min(self.n_neighbors, n)
        self._mean = X.mean(axis=0)
        self._points = X - self._mean
        self._sq_norms = np.einsum("ij,ij->i", self._points, self._points)
        self._sq_radii = np.concatenate(
            [r for _, r in self._distance_blocks(self._points, self._sq_norms)]
        )
        if self.epsilon == "auto":
            positive = self._sq_radii[self._sq_radii > 0]
            if not len(positive):
                raise ValueError(
                    f"{type(self).__name__}: every point coincides with its "
                    f"{self.n_neighbors_} nearest ones, so no kernel bandwidth can be chosen; "
                    "pass epsilon explicitly or raise n_neighbors."
                )
            self.epsilon_ = float(np.median(positive))
        else:
            self.epsilon_ = float(self.epsilon)

        kernel = sparse.vstack(
            [
                sparse.csr_array(np.where(mask, np.exp(-d2 / self.epsilon_), 0.0))
                for d2, mask in self._neighbour_blocks(self._points, self._sq_norms)
            ],
            format="csr",
        )
        kernel = (kernel + kernel.T) / 2  # equal up to rounding; the eigensolvers need symmetry
        density = np.asarray(kernel.sum(axis=1)).ravel()  # >= 1: the point itself weighs 1
        self._log_density = np.log(density)
        scale = density ** (-self.alpha)
        kernel_alpha = sparse.diags_array(scale) @ kernel @ sparse.diags_array(scale)
        degree = np.asarray(kernel_alpha.sum(axis=1)).ravel()
        inv_sqrt = 1 / np.sqrt(degree)
        symmetric = sparse.diags_array(inv_sqrt) @ kernel_alpha @ sparse.diags_array(inv_sqrt)
        symmetric = (symmetric + symmetric.T) / 2

        # The trivial eigenvector sqrt(degree) (psi_0 = 1, eigenvalue 1) is deflated away
        # rather than dropped from the top n_components + 1: on a disconnected graph the
        # eigenvalue 1 repeats, and its other eigenvectors are the components' indicators.
        trivial = np.sqrt(degree / degree.sum())
        values, vectors = _leading_eigenpairs(
            symmetric, trivial, self.n_components, check_random_state(self.random_state)
        )
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        if values[-1] <= 0:
            raise ValueError(
                f"{type(self).__name__}: the Markov matrix has fewer than n_components="
                f"{self.n_components} positive non-trivial eigenvalues (got {values.tolist()}); "
                "lower n_components or raise n_neighbors or epsilon."
            )
        # Right eigenvectors of P, normalised as psi = phi / phi_0 with phi_0 = sqrt(degree /
        # volume) (Sec. 2.1), so that psi' D psi is the volume.
        psi = vectors / trivial[:, None]
        # Fix each eigenvector's sign (largest entry positive) so fits are reproducible.
        signs = np.sign(psi[np.argmax(np.abs(psi), axis=0), np.arange(psi.shape[1])])
        psi *= signs
        self.eigenvalues_ = values
        self.embedding_ = psi * self.eigenvalues_**self.diffusion_time
        # Nystrom: coordinates of x = p(x, .) @ psi * lambda^(t - 1).
        self._extension = psi * self.eigenvalues_ ** (self.diffusion_time - 1)
        return self

    def transform(self, X):
        """Diffusion coordinates of new points by the Nystrom extension.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points with the features seen in ``fit``; finite.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), float64
            For a point passed to ``fit``, its row of ``embedding_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On non-finite values or another number of features than in ``fit``.
        """
        check_is_fitted(self, "embedding_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        points = X - self._mean
        sq_norms = np.einsum("ij,ij->i", points, points)
        out = np.empty((len(X), self.n_components))
        start = 0
        for d2, mask in self._neighbour_blocks(points, sq_norms):
            # p(x, x_j) is proportional to k(x, x_j) / q(x_j)^alpha (the factor q(x)^-alpha
            # cancels); in logs, so a point far from every fitted one still gets weights.
            logits = np.where(mask, -d2 / self.epsilon_ - self.alpha * self._log_density, -np.inf)
            out[start : start + len(d2)] = softmax(logits, axis=1) @ self._extension
            start += len(d2)
        return out

    def _distance_blocks(self, points, sq_norms):
        """Yield, for row blocks of ``points``, the squared distances to the fitted points and
        each row's squared distance to its ``n_neighbors_``-th nearest fitted point."""
        # Blocks of scikit-learn's working_memory (MiB) of float64 distances.
        rows = max(1, get_config()["working_memory"] * 2**20 // (8 * len(self._points)))
        for block in gen_batches(len(points), rows):
            d2 = euclidean_distances(
                points[block],
                self._points,
                X_norm_squared=sq_norms[block, None],
                Y_norm_squared=self._sq_norms[None, :],
                squared=True,
            )
            k = self.n_neighbors_ - 1
            yield d2, np.partition(d2, k, axis=1)[:, k]

    def _neighbour_blocks(self, points, sq_norms):
        """Yield row blocks of the squared distances to the fitted points, with the mask of
        the graph's edges: either point is among the other's ``n_neighbors_`` nearest."""
        start = 0
        for d2, sq_radii in self._distance_blocks(points, sq_norms):
            block = slice(start, start + len(d2))
            tolerance = _DISTANCE_TOLERANCE * (sq_norms[block, None] + self._sq_norms[None, :])
            mask = d2 <= np.maximum(sq_radii[:, None], self._sq_radii[None, :]) + tolerance
            start += len(d2)
            yield d2, mask

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class DiffusionMapFewShotClassifier(ClusterNamingClassifier):
    """Diffusion-map clustering of all frames, clusters named by a few labelled frames.

    ``fit`` embeds *all* the frames it is given -- labelled and unlabelled -- with a diffusion
    map (:class:`DiffusionMapEmbedding` of their ``log(1 + photons)`` vectors), clusters the
    diffusion coordinates with k-means, and gives each cluster the majority label of its
    labelled frames; a cluster without labelled frames takes the label of the nearest labelled
    cluster. The method is transductive, as :class:`SpectralFewShotClassifier`: pass the
    frames to classify to ``fit`` with the label ``unlabeled`` and read ``transduction_``.
    ``predict`` on new frames extends the diffusion coordinates to them (Nystrom) and takes
    the label of the nearest cluster centre; for the fitted frames it gives ``transduction_``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of k-means clusters (more clusters than classes lets a class span several).
    n_components : int or None, default=None
        Number of diffusion coordinates; ``n_clusters`` when None.
    n_neighbors : int, default=10
        Neighbours of each frame in the kernel graph, itself included (capped at
        ``n_samples``).
    alpha : float in [0, 1], default=1.0
        Density normalisation; 1 (Laplace-Beltrami) makes the coordinates independent of how
        densely orientations are sampled, 0 is the normalised graph Laplacian.
    diffusion_time : int, default=1
        Random-walk steps ``t``: coordinate ``l`` is scaled by ``lambda_l^t``.
    epsilon : float or "auto", default="auto"
        Kernel bandwidth in squared ``log(1 + photons)`` units; ``"auto"`` is the median
        squared distance of a frame to its ``n_neighbors``-th nearest one.
    unlabeled : label, default=-1
        The label of unlabelled frames in ``y`` (scikit-learn's semi-supervised convention;
        use e.g. ``"unlabeled"`` with string labels).
    random_state : int, RandomState instance or None, default=None
        Seeds the eigensolver and k-means.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels of the labelled frames.
    transduction_ : ndarray of shape (n_samples,)
        The label given to every frame passed to ``fit``.
    cluster_labels_ : ndarray of shape (n_clusters,)
        Label of each cluster.
    labels_ : ndarray of shape (n_samples,), int
        Cluster of every frame passed to ``fit``.
    embedding_ : ndarray of shape (n_samples, n_components), float64
        Diffusion coordinates of the frames passed to ``fit``.
    diffusion_map_ : DiffusionMapEmbedding
        The fitted diffusion map (``eigenvalues_``, ``epsilon_``, ``transform``).
    image_shape_, n_features_in_
        Frame shape and ``X.shape[1]`` seen in ``fit``.

    See Also
    --------
    SpectralFewShotClassifier : The same with Laplacian eigenmaps (Yoon et al. 2011).

    Notes
    -----
    Diffusion maps after Coifman and Lafon, Appl. Comput. Harmon. Anal. 21, 5-30 (2006) (see
    :class:`DiffusionMapEmbedding`), as used on X-ray snapshots of single particles by Fung,
    Shneerson, Saldin and Ourmazd, "Structure from fleeting illumination of faint spinning
    objects in flight", Nature Physics 5, 64-67 (2009), and Giannakis, Schwander and Ourmazd,
    "The symmetries of image formation by scattering. I. Theoretical framework", Optics
    Express 20, 12799 (2012), with ``alpha = 1``. Those works recover orientations from the
    coordinates; here, as in Yoon et al. (2011) for the spectral embedding, clusters of them
    are named by labels. The cost of ``fit`` grows as ``n_samples^2``, unlike the CNNs.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines import DiffusionMapFewShotClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(40, 8, 8)).astype(np.float32)
    >>> y = np.full(40, -1)
    >>> y[[0, 1, 20, 21]] = [0, 0, 1, 1]
    >>> clf = DiffusionMapFewShotClassifier(n_clusters=4, random_state=0).fit(X, y)
    >>> clf.transduction_.shape, clf.classes_.tolist()
    ((40,), [0, 1])
    """

    _parameter_constraints = {
        **ClusterNamingClassifier._parameter_constraints,
        **_DIFFUSION_CONSTRAINTS,
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        n_components=None,
        n_neighbors=10,
        alpha=1.0,
        diffusion_time=1,
        epsilon="auto",
        unlabeled=-1,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.diffusion_time = diffusion_time
        self.epsilon = epsilon
        self.unlabeled = unlabeled
        self.random_state = random_state

    def _embed(self, vectors, n_components, seed):
        self.diffusion_map_ = DiffusionMapEmbedding(
            n_components,
            n_neighbors=self.n_neighbors,
            alpha=self.alpha,
            diffusion_time=self.diffusion_time,
            epsilon=self.epsilon,
            random_state=seed,
        ).fit(vectors)
        return self.diffusion_map_.embedding_

    def predict(self, X):
        """Label of the nearest cluster centre of each frame's diffusion coordinates (Nystrom
        extension); for the frames seen in ``fit``, ``transduction_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions, non-finite values, or frames of
            another shape than in ``fit``.
        """
        check_is_fitted(self, "transduction_")
        X = validate_images(self, X, reset=False)
        coordinates = self.diffusion_map_.transform(frames_to_vectors(X))
        return self.cluster_labels_[self._kmeans.predict(coordinates)]
