"""Training flyvis networks with flycluster.

- the differentiable network: :class:`NetworkModule` (:mod:`.module`; docs/training.md);
- the optic-flow task: movies with their flow (:func:`flow_sequences`, :mod:`.data`,
  :mod:`.flow`, :mod:`.textures`), the decoder (:class:`FlowDecoder`), the loss and schedule
  (:mod:`.objectives`) and the resumable loop (:func:`train_flow`, :class:`TrainConfig`;
  docs/training_task.md);
- ensembles: one network of an ensemble from config options, published at the analysis
  extent (:func:`train_network`, :mod:`.ensemble`; :func:`transfer_state_dict`), and how good
  trained networks are (:func:`evaluate_networks`, :func:`tuning_scores`, :mod:`.evaluate`).
"""

from flycluster.training.data import (
                                      SINTEL_TRAIN_SCENES,
                                      SINTEL_VALIDATION_SCENES,
                                      FlowAugmentation,
                                      FlowSequence,
                                      flow_sequences,
                                      photo_flow_sequences,
                                      sintel_flow_sequences,
                                      split_by_group,
                                      texture_flow_sequences,
)
from flycluster.training.decoder import FlowDecoder
from flycluster.training.ensemble import network_random_state, publish, train_network
from flycluster.training.evaluate import evaluate_networks, summarize, tuning_scores
from flycluster.training.loop import TrainConfig, TrainResult, train_flow, validate
from flycluster.training.module import BACKENDS, FIXED, TRAINABLE, NetworkModule, network_module
from flycluster.training.objectives import ActivityPenalty, epe, l2norm, stepwise_schedule
from flycluster.training.transfer import transfer_state_dict

__all__ = [
    "NetworkModule", "network_module", "BACKENDS", "TRAINABLE", "FIXED",
    "FlowSequence", "FlowAugmentation", "flow_sequences", "photo_flow_sequences",
    "texture_flow_sequences", "sintel_flow_sequences", "split_by_group",
    "SINTEL_TRAIN_SCENES", "SINTEL_VALIDATION_SCENES",
    "FlowDecoder", "l2norm", "epe", "stepwise_schedule", "ActivityPenalty",
    "TrainConfig", "TrainResult", "train_flow", "validate",
    "transfer_state_dict", "train_network", "publish", "network_random_state",
    "evaluate_networks", "tuning_scores", "summarize",
]
