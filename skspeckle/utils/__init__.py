"""Helpers shared by the estimators: image validation, splitting, scikit-learn compatibility."""
