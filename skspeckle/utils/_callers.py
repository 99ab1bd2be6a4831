"""What the scikit-learn meta-estimators fitting an estimator hold, read from the call stack.

A ``Pipeline`` gives its steps ``X``, ``y`` and their own fit parameters, nothing more, and
with metadata routing off (scikit-learn's default) a search or cross-validation keeps
``groups`` for its splitter. Two checks of ``TripletEmbedder.fit`` need what only the callers
hold, so they look up the call stack of the running fit:

- :func:`calling_pipelines`: the ``Pipeline`` objects fitting the estimator now, so that
  the last step (a ``FewShotCentroidClassifier``) can check ``y`` before the network trains
  for minutes. A frame is taken only when its ``self`` is a ``Pipeline`` holding the
  estimator itself (an identity test), so a match is never wrong.
- :func:`groups_held_back`: the model-selection call that was given ``groups`` but, with
  routing off, passed them to its splitter only. It reads the public argument names of
  those calls (``groups=`` of ``cross_validate`` and its siblings, ``**params`` of the
  searches' ``fit``).

Neither can raise or change a fit: a frame that does not match is skipped, so a scikit-learn
release that renames these arguments only loses the early check or the warning (the tests in
``tests/test_pipeline.py`` say so on the installed release). What the stack cannot show is
not guessed: a fit run in another process (``n_jobs`` > 1) has no caller's frame, and a
``Pipeline(memory=...)`` fits clones of its steps.
"""

import inspect
import warnings

import sklearn

__all__ = ["calling_pipelines", "groups_held_back", "warn_if_groups_held_back"]

# Far above the depth of a fit inside a Pipeline inside a search (about 40 frames).
_MAX_FRAMES = 200


def _caller_frames():
    """The frames of the call stack, innermost first (this generator's own left out)."""
    frame = inspect.currentframe().f_back
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return
        yield frame
        frame = frame.f_back


def calling_pipelines(estimator):
    """The ``Pipeline`` objects whose ``fit`` is fitting ``estimator`` now, innermost first.

    Parameters
    ----------
    estimator : object
        The estimator whose ``fit`` calls this.

    Returns
    -------
    chain : list of (Pipeline, str)
        Each pipeline with the name of its step that is ``estimator`` (the first entry) or
        the pipeline before it in the list (a pipeline nested as a step of another). Empty
        when ``estimator`` is not fitted by a pipeline.
    """
    from sklearn.pipeline import Pipeline

    chain, current = [], estimator
    for frame in _caller_frames():
        if frame.f_code.co_varnames[:1] != ("self",):
            continue
        owner = frame.f_locals.get("self")
        if not isinstance(owner, Pipeline) or owner is current:
            continue
        name = next((name for name, step in owner.steps if step is current), None)
        if name is not None:
            chain.append((owner, name))
            current = owner
    return chain


def groups_held_back():
    """The model-selection call up the stack that holds ``groups`` it did not pass on.

    With metadata routing off, ``GridSearchCV.fit(X, y, groups=g)``, ``cross_validate(...,
    groups=g)`` and the like give ``groups`` to the splitter only; the estimator they fit
    receives none.

    Returns
    -------
    caller : (str, bool) or None
        The name of the outermost such call (e.g. ``"GridSearchCV"``, ``"cross_val_score"``)
        and whether it is an estimator's ``fit`` (else a function); None when there is none
        or routing is on (then ``groups`` reach the estimators that request them).
    """
    if sklearn.get_config().get("enable_metadata_routing", False):
        return None
    found = None
    for frame in _caller_frames():
        if not frame.f_globals.get("__name__", "").startswith("sklearn.model_selection"):
            continue
        local = frame.f_locals
        groups, params = local.get("groups"), local.get("params")
        if groups is None and isinstance(params, dict):
            groups = params.get("groups")
        if groups is not None:
            owner = local.get("self")
            is_fit = owner is not None and frame.f_code.co_name == "fit"
            found = (type(owner).__name__ if is_fit else frame.f_code.co_name, is_fit)
    return found


def warn_if_groups_held_back(estimator, pipelines):
    """Warn that a search or cross-validation kept the ``groups`` that ``estimator`` uses.

    Called by the ``fit`` of an estimator that requests ``groups`` and received none.

    Parameters
    ----------
    estimator : object
        The estimator being fitted.
    pipelines : list of (Pipeline, str)
        :func:`calling_pipelines` of ``estimator``, to name its fit parameter
        ``<step>__groups`` in the message.

    Warns
    -----
    UserWarning
        When :func:`groups_held_back` finds the call holding them back; the message names
        ``sklearn.set_config(enable_metadata_routing=True)`` and, inside a pipeline, the fit
        parameter that passes them without routing.
    """
    found = groups_held_back()
    if found is None:
        return
    caller, is_fit = found
    name = type(estimator).__name__
    step = "__".join([step_name for _, step_name in reversed(pipelines)])
    alternative = ""
    if step:  # the search's fit parameters (or cross_validate's params) reach the pipeline
        call = (
            f"search.fit(X, y, groups=groups, {step}__groups=groups)"
            if is_fit
            else f"{caller}(..., groups=groups, params={{'{step}__groups': groups}})"
        )
        alternative = f", or, without routing, pass them to this step as well: {call}"
    warnings.warn(
        f"{caller} was given groups, but with scikit-learn's metadata routing off (the "
        f"default) it passes them to its splitter only: {name}.fit received none, so anchor "
        "and positive may come from different samples. Enable routing with "
        f"sklearn.set_config(enable_metadata_routing=True) ({name} requests groups by default; "
        f"set_fit_request(groups=True) if the request was switched off){alternative}.",
        UserWarning,
        stacklevel=4,
    )
