"""skspeckle: SpeckleNN few-shot speckle-pattern classification as scikit-learn estimators."""
__version__ = "0.1.0"
