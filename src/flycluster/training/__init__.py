"""Training flyvis networks with flycluster: the differentiable network (:mod:`.module`)."""

from flycluster.training.module import BACKENDS, FIXED, TRAINABLE, NetworkModule, network_module

__all__ = ["NetworkModule", "network_module", "BACKENDS", "TRAINABLE", "FIXED"]
