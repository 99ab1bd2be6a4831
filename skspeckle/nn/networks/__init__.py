"""Plain PyTorch networks: SpeckleNN, the SPI baselines and the SFX hit finders."""
