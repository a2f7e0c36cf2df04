"""Export trained networks as a compact ensemble, the form flyvis releases its ensembles in.

A training run keeps every checkpoint (with the optimiser's state) to be resumable and to
follow the training; an ensemble that is shipped or shared needs one checkpoint per network.
:func:`export_network` writes a network folder holding the chosen checkpoint alone
(``chkpts/chkpt_00000``, without the optimiser state), ``validation/loss.h5`` with its
validation loss, and ``_meta.yaml`` saying where it came from (source folder, checkpoint,
iteration, validation loss against the untrained start, the training recipe). The folder is
read by the ``flyvis`` ensemble kind and by :func:`flycluster.load_network` unchanged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from flycluster.checkpoints import (
    CHECKPOINT_DIR,
    list_checkpoints,
    read_meta,
    trained_iterations,
    validation_losses,
    write_meta,
)
from flycluster.errors import CheckpointError
from flycluster.parameters import validate_state_dict

__all__ = ["export_network", "choose_checkpoint"]

#: Checkpoint entries not exported (the optimiser's state is for resuming only).
_DROPPED = ("optim",)


def choose_checkpoint(network_dir, which="best") -> Path:
    """The checkpoint file of ``network_dir`` named by ``which``: ``best`` (lowest validation
    loss), ``last``, ``start`` or an index into the sorted checkpoints (negative from the end;
    also as text, as a command line gives it): :func:`flycluster.training.evaluate.
    checkpoint_file`, with a :class:`CheckpointError` naming the folder."""
    from flycluster.training.evaluate import checkpoint_file

    try:
        index = int(which) if str(which).lstrip("-").isdigit() else which
        return checkpoint_file(Path(network_dir), index)
    except ValueError:
        n = len(list_checkpoints(network_dir))
        raise CheckpointError(f"{network_dir}: no checkpoint {which!r} (expected best, last, start "
                              f"or an index; it has {n} checkpoints)") from None


def export_network(source, dest, connectome, which="best", provenance: dict | None = None) -> Path:
    """Write checkpoint ``which`` of network folder ``source`` as a one-checkpoint network
    folder ``dest`` (replaced as a whole, written to a temporary sibling and renamed).

    Parameters
    ----------
    source : a trained network folder (e.g. one the ``train`` rule published), whose
        checkpoints fit ``connectome`` (the analysis extent).
    dest : the new network folder.
    connectome : :class:`flycluster.connectome.Connectome` the network is checked against.
    which : ``best``, ``last``, ``start`` or a checkpoint index (:func:`choose_checkpoint`).
    provenance : extra entries for ``_meta.yaml`` (e.g. the command that trained it).

    Returns the path of ``dest``. ``_meta.yaml`` gains ``exported``: source, checkpoint,
    iterations trained, validation loss, the untrained start's validation loss and their
    ratio.
    """
    source, dest = Path(source), Path(dest)
    chosen = choose_checkpoint(source, which)
    record = torch.load(chosen, map_location="cpu", weights_only=False)
    if not isinstance(record, dict) or "network" not in record:
        raise CheckpointError(f"{chosen}: not a training checkpoint (no 'network' entry)")
    try:
        validate_state_dict(record["network"], connectome)
    except Exception as e:
        raise CheckpointError(f"{chosen}: does not fit the connectome at extent "
                              f"{connectome.extent} ({e}); export the published folder, which "
                              "is at the analysis extent") from e
    losses = validation_losses(source)
    chkpts = list_checkpoints(source)
    start_loss = float(losses[0]) if len(losses) == len(chkpts) else float("nan")
    loss = float(record.get("val_loss", losses[chkpts.index(chosen)]
                            if len(losses) == len(chkpts) else np.nan))
    meta = read_meta(source)
    meta["exported"] = {
        "source": str(source), "checkpoint": chosen.name, "which": str(which),
        "iterations": float(trained_iterations(record)),
        "validation_loss": loss, "validation_loss_start": start_loss,
        "loss_ratio": loss / start_loss if start_loss else float("nan"),
        **(provenance or {})}
    tmp = dest.parent / f".{dest.name}.exporting"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / CHECKPOINT_DIR).mkdir(parents=True)
    (tmp / "validation").mkdir()
    torch.save({k: v for k, v in record.items() if k not in _DROPPED},
               tmp / CHECKPOINT_DIR / "chkpt_00000")
    import h5py

    with h5py.File(tmp / "validation" / "loss.h5", "w") as f:
        f.create_dataset("data", data=np.asarray([loss], dtype=np.float64))
    write_meta(tmp, meta)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest
