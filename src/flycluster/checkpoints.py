"""flyvis network and ensemble directories: read checkpoints and task errors, write networks.

Layout of one network directory (flyvis/datamate format)::

    <network>/_meta.yaml                  config + status
    <network>/chkpts/chkpt_00000 ...      torch.save dict: network (state dict), decoder, optim,
                                          time, val_loss, iteration, dt
    <network>/validation/loss.h5          h5 dataset "data": one validation loss per checkpoint

An ensemble directory holds network directories named by number (``000``, ``001``, ...).
The best checkpoint is the argmin of the validation loss; the task error of a network is the
minimum validation loss.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from flycluster.errors import CheckpointError
from flycluster.io_utils import atomic_path

_CHKPT = re.compile(r"^chkpt_(\d+)$")


def list_checkpoints(network_dir) -> list[Path]:
    """Checkpoint files ``chkpts/chkpt_<n>`` of a network directory, sorted by n."""
    network_dir = Path(network_dir)
    if not network_dir.is_dir():
        raise CheckpointError(f"{network_dir}: network directory does not exist")
    chkpts = network_dir / "chkpts"
    found = [(int(m.group(1)), p) for p in chkpts.glob("chkpt_*") if (m := _CHKPT.match(p.name))] if chkpts.is_dir() else []
    if not found:
        raise CheckpointError(f"{network_dir}: no checkpoint files chkpts/chkpt_<number> found")
    return [p for _, p in sorted(found)]


def _read_h5_values(path: Path) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "data" not in f:
                raise CheckpointError(f"{path}: expected an h5 dataset named 'data' (datamate format), found {list(f)}")
            values = np.atleast_1d(np.asarray(f["data"][()], dtype=np.float64)).ravel()
    except OSError as exc:
        raise CheckpointError(f"{path}: not a readable h5 file: {exc}") from exc
    if values.size == 0 or not np.isfinite(values).any():
        raise CheckpointError(f"{path}: no finite validation loss values")
    return values


def validation_losses(network_dir, loss_name: str = "loss") -> np.ndarray:
    """Validation losses of a network directory (``validation/<loss_name>.h5``), float64 (n,).

    Falls back to ``loss.h5`` with a warning when ``<loss_name>.h5`` is absent (as flyvis does).
    """
    network_dir = Path(network_dir)
    path = network_dir / "validation" / f"{loss_name}.h5"
    if not path.is_file():
        fallback = network_dir / "validation" / "loss.h5"
        if loss_name != "loss" and fallback.is_file():
            warnings.warn(f"{path} not found, using {fallback}", stacklevel=2)
            path = fallback
        else:
            raise CheckpointError(f"{path}: validation loss file not found (loss_name={loss_name!r})")
    return _read_h5_values(path)


def best_checkpoint(network_dir, loss_name: str = "loss") -> Path:
    """Path of the checkpoint with the lowest validation loss.

    The losses are one per checkpoint in checkpoint order. A directory with a single checkpoint
    (as the released flyvis ensembles) returns it whatever the number of recorded losses.
    """
    chkpts = list_checkpoints(network_dir)
    if len(chkpts) == 1:
        return chkpts[0]
    losses = validation_losses(network_dir, loss_name)
    if len(losses) != len(chkpts):
        raise CheckpointError(
            f"{network_dir}: {len(losses)} validation losses for {len(chkpts)} checkpoints; "
            "expected one loss per checkpoint")
    return chkpts[int(np.nanargmin(losses))]


def task_error(network_dir, loss_name: str = "loss") -> float:
    """Task error of a network: the minimum of its validation losses."""
    return float(np.nanmin(validation_losses(network_dir, loss_name)))


def read_state_dict(path) -> dict:
    """The ``network`` state dict of a checkpoint file (or the file's dict if it is one).

    Loads with ``weights_only=True`` first and falls back to a full unpickle for checkpoints
    that hold other objects (flyvis's optimizer states); only load checkpoints you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - not loadable safely; try the full format
            obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, dict) and isinstance(obj.get("network"), dict):
        return obj["network"]
    if isinstance(obj, dict) and "nodes_bias" in obj:
        return obj
    keys = list(obj) if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"{path}: expected a dict with a 'network' state dict (flyvis checkpoint), found {keys}")


def list_ensemble(ensemble_dir) -> list[Path]:
    """Network directories of an ensemble (sub-folders with ``chkpts/``), sorted by name."""
    ensemble_dir = Path(ensemble_dir)
    if not ensemble_dir.is_dir():
        raise CheckpointError(f"{ensemble_dir}: ensemble directory does not exist")
    networks = sorted(p for p in ensemble_dir.iterdir() if p.is_dir() and (p / "chkpts").is_dir())
    if not networks:
        raise CheckpointError(f"{ensemble_dir}: no network directories (sub-folders with chkpts/) found")
    return networks


def ensemble_task_errors(ensemble_dir, loss_name: str = "loss") -> pd.Series:
    """Task error of every network of an ensemble: Series indexed by network name (e.g. "000")."""
    networks = list_ensemble(ensemble_dir)
    return pd.Series([task_error(p, loss_name) for p in networks],
                     index=pd.Index([p.name for p in networks], name="network"), name="task_error")


def _write_h5(path: Path, values) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("data", data=np.asarray(values, dtype=np.float64))


def write_network_dir(dest, state_dict, val_loss, dt: float = 0.02, config: dict | None = None,
                      extra_losses: dict | None = None) -> Path:
    """Write one network in flyvis's directory format with a single checkpoint ``chkpt_00000``.

    Parameters
    ----------
    dest : network directory to create (e.g. ``<ensemble>/000``).
    state_dict : flyvis network parameters (keys of :data:`flycluster.parameters.PARAMETER_KEYS`).
    val_loss : validation loss of the checkpoint (its task error).
    dt : training time step (s) stored in the checkpoint, as flyvis does.
    config : stored under ``config`` in ``_meta.yaml`` (describes how it was made).
    extra_losses : more ``validation/<name>.h5`` files, name -> value.
    """
    import yaml

    dest = Path(dest)
    network = {k: torch.as_tensor(v).detach().cpu().float().clone() for k, v in state_dict.items()}
    chkpt = {"network": network, "decoder": {}, "optim": {}, "time": time.ctime(),
             "val_loss": float(val_loss), "iteration": 0, "dt": float(dt)}
    with atomic_path(dest / "chkpts" / "chkpt_00000", suffix="") as tmp:
        torch.save(chkpt, tmp)
    _write_h5(dest / "validation" / "loss.h5", [float(val_loss)])
    for name, value in (extra_losses or {}).items():
        _write_h5(dest / "validation" / f"{name}.h5", [float(value)])
    _write_h5(dest / "chkpt_index.h5", [0])
    meta = {"config": config or {}, "status": "done"}
    with atomic_path(dest / "_meta.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(meta, sort_keys=False))
    return dest
