"""Plain PyTorch networks; nothing is imported here, import the submodules.

- :mod:`~skspeckle.nn.networks.speckle_net`: the SpeckleNN embedding network.
- :mod:`~skspeckle.nn.networks.speckle_net_small`: a small SpeckleNN network of the FPGA
  class (Dave et al. 2025), for single-frame latency.
- :mod:`~skspeckle.nn.networks.spi`: the SPI baselines (Shi et al. 2019, the small ResNet,
  VGG features) and DANN's domain head.
- :mod:`~skspeckle.nn.networks.dann`: the domain-adversarial network of DANN.
- :mod:`~skspeckle.nn.networks.sfx`: the SFX hit-finding networks.
- :mod:`~skspeckle.nn.networks.layers`: what several networks share: the model wrappers the
  estimators store (input scaling, network, L2 normalisation), feature capture and pooling,
  zero-padding to a minimum size, parameter counts.
"""
