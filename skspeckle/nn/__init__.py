"""Plain PyTorch machinery behind the estimators: networks, triplet mining and loss, the
training loop and batched augmentation. Nothing here imports from the estimator modules."""
