"""The flyvis ensemble layout, in one place: list networks, pick the best checkpoint, read the
task error, write networks.

Layout of one network directory (flyvis/datamate format)::

    <network>/_meta.yaml                  config + status
    <network>/chkpts/chkpt_00000 ...      torch.save dict: network (state dict), decoder, optim,
                                          time, val_loss, iteration, dt
    <network>/validation/<loss_name>.h5   h5 dataset "data": one validation loss per checkpoint
                                          (released ensembles: loss.h5, the fallback)
    <network>/best_chkpt                  networks trained by the workflow (kind trained) only:
                                          a copy of the best checkpoint, at a path known before
                                          training (flycluster.training.ensemble.publish)

An ensemble directory holds network directories (folders with ``chkpts/``), named by number
(``000``, ``001``, ...). The best checkpoint is the argmin of the validation loss; the task
error of a network is the minimum validation loss.

Everything but :func:`read_state_dict` and :func:`write_network_dir` works on paths and h5
files only, and torch is imported by those two alone: the workflow lists networks and picks
checkpoints with this module while it is parsed.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import numpy as np

from flycluster.errors import CheckpointError
from flycluster.io_utils import atomic_path

__all__ = ["CHECKPOINT_DIR", "VALIDATION_DIR", "BEST_CHECKPOINT", "checkpoint_path", "list_checkpoints",
           "loss_file", "validation_losses", "best_checkpoint", "task_error", "list_networks",
           "ensemble_task_errors", "read_state_dict", "write_network_dir", "trained_iterations",
           "read_meta", "write_meta", "META_FILE"]

#: Sub-folders of a network directory.
CHECKPOINT_DIR = "chkpts"
VALIDATION_DIR = "validation"
#: The description file of a network directory (config, status, provenance).
META_FILE = "_meta.yaml"
#: Copy of the best checkpoint in a network folder published by the train rule.
BEST_CHECKPOINT = "best_chkpt"
#: The loss file every flyvis network has, used when ``<loss_name>.h5`` is absent.
FALLBACK_LOSS_NAME = "loss"
_CHKPT = re.compile(r"^chkpt_(\d+)$")
#: Names usable as file names and snakemake wildcards.
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def checkpoint_path(network_dir, index: int = 0) -> Path:
    """Path of checkpoint number ``index`` of a network directory (``chkpts/chkpt_00000``),
    whether or not it exists yet (:func:`write_network_dir` writes number 0)."""
    return Path(network_dir) / CHECKPOINT_DIR / f"chkpt_{index:05d}"


def list_checkpoints(network_dir) -> list[Path]:
    """Checkpoint files ``chkpts/chkpt_<n>`` of a network directory, sorted by n."""
    network_dir = Path(network_dir)
    if not network_dir.is_dir():
        raise CheckpointError(f"{network_dir}: network directory does not exist")
    chkpts = network_dir / CHECKPOINT_DIR
    found = ([(int(m.group(1)), p) for p in chkpts.glob("chkpt_*") if (m := _CHKPT.match(p.name))]
             if chkpts.is_dir() else [])
    if not found:
        raise CheckpointError(f"{network_dir}: no checkpoint files chkpts/chkpt_<number> found")
    return [p for _, p in sorted(found)]


def loss_file(network_dir, loss_name: str = "loss", must_exist: bool = True) -> Path:
    """The validation loss file of a network: ``validation/<loss_name>.h5``, else
    ``validation/loss.h5`` (as flyvis falls back).

    With ``must_exist=False`` the path ``validation/<loss_name>.h5`` is returned when neither
    exists (a network not written yet); otherwise that raises :class:`CheckpointError`.
    """
    folder = Path(network_dir) / VALIDATION_DIR
    for name in dict.fromkeys((loss_name, FALLBACK_LOSS_NAME)):
        if (folder / f"{name}.h5").is_file():
            return folder / f"{name}.h5"
    if must_exist:
        raise CheckpointError(f"{folder / f'{loss_name}.h5'}: validation loss file not found "
                              f"(loss_name={loss_name!r}; nor validation/loss.h5); it picks the "
                              "best checkpoint and gives the task error")
    return folder / f"{loss_name}.h5"


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
    """Validation losses of a network directory (:func:`loss_file`), float64 (n,).

    Warns when ``<loss_name>.h5`` is absent and ``loss.h5`` is read instead.
    """
    path = loss_file(network_dir, loss_name)
    if path.stem != loss_name:
        warnings.warn(f"{path.with_name(f'{loss_name}.h5')} not found, using {path}", stacklevel=2)
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
    import torch

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


def list_networks(ensemble_dir, loss_name: str = "loss") -> list[str]:
    """Names of the network directories of an ensemble (sub-folders with ``chkpts/``), sorted.

    Only paths are inspected (no file is opened), so this is cheap enough for workflow parsing.

    Raises
    ------
    flycluster.errors.CheckpointError
        If the directory does not exist or holds no network directory, if a network lacks its
        validation loss file (:func:`loss_file`), or if a name is not usable as a file name.
    """
    root = Path(ensemble_dir)
    if not root.is_dir():
        raise CheckpointError(f"ensemble directory {root} does not exist")
    networks = sorted(p for p in root.iterdir() if p.is_dir() and (p / CHECKPOINT_DIR).is_dir())
    if not networks:
        raise CheckpointError(f"ensemble directory {root} holds no network directories "
                              "(sub-folders with chkpts/ and validation/, e.g. .../flow/0000/000)")
    for network in networks:
        loss_file(network, loss_name)
        if not _NAME.match(network.name):
            raise CheckpointError(f"network folder {network}: names may hold only letters, "
                                  "digits, '_', '-' and '.'")
    return [p.name for p in networks]


def ensemble_task_errors(ensemble_dir, loss_name: str = "loss"):
    """Task error of every network of an ensemble: pandas Series indexed by network name."""
    import pandas as pd

    names = list_networks(ensemble_dir, loss_name)
    return pd.Series([task_error(Path(ensemble_dir) / n, loss_name) for n in names],
                     index=pd.Index(names, name="network"), name="task_error")


def _write_h5(path: Path, values) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("data", data=np.asarray(values, dtype=np.float64))


def read_meta(folder) -> dict:
    """The ``_meta.yaml`` of a network directory as a dict; ``{}`` if the folder has none.

    Raises :class:`~flycluster.errors.CheckpointError` naming the file if it is not YAML or
    does not hold a mapping (``config``, ``status``, ``exported``, ``published``, ...).
    """
    import yaml

    meta_file = Path(folder) / META_FILE
    if not meta_file.is_file():
        return {}
    try:
        meta = yaml.safe_load(meta_file.read_text())
    except yaml.YAMLError as e:
        raise CheckpointError(f"{meta_file}: not a readable YAML file ({e})") from e
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{meta_file}: expected a mapping (config, status, ...), "
                              f"got {type(meta).__name__}")
    return meta


def write_meta(folder, meta: dict) -> Path:
    """Write ``meta`` as the ``_meta.yaml`` of a network directory (keys in the given order),
    atomically: a reader sees the old file or the new one. Returns the file's path."""
    import yaml

    path = Path(folder) / META_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(meta, sort_keys=False))
    return path


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
    import torch

    dest = Path(dest)
    network = {k: torch.as_tensor(v).detach().cpu().float().clone() for k, v in state_dict.items()}
    chkpt = {"network": network, "decoder": {}, "optim": {}, "time": time.ctime(),
             "val_loss": float(val_loss), "iteration": 0, "dt": float(dt)}
    with atomic_path(checkpoint_path(dest), suffix="") as tmp:
        torch.save(chkpt, tmp)
    _write_h5(dest / VALIDATION_DIR / f"{FALLBACK_LOSS_NAME}.h5", [float(val_loss)])
    for name, value in (extra_losses or {}).items():
        _write_h5(dest / VALIDATION_DIR / f"{name}.h5", [float(value)])
    _write_h5(dest / "chkpt_index.h5", [0])
    write_meta(dest, {"config": config or {}, "status": "done"})
    return dest


def trained_iterations(record) -> float:
    """Iterations trained when a checkpoint record (the dict in ``chkpt_NNNNN``) was written:
    flycluster's ``n_iterations_done``, else flyvis's ``iteration`` (index of the last trained
    iteration) + 1, else NaN."""
    if not isinstance(record, dict):
        return float("nan")
    if "n_iterations_done" in record:
        return float(record["n_iterations_done"])
    return float(record["iteration"]) + 1 if "iteration" in record else float("nan")
