"""Training a flyvis network on the optic-flow task, resumably, into a flyvis network folder.

One iteration (flyvis 1.2.0's ``MultiTaskSolver.train``):

1. a batch of ``batch_size`` training sequences (a seeded permutation per epoch; an epoch is
   ``len(train) // batch_size`` iterations, the last incomplete batch dropped), each augmented
   by :class:`~flycluster.training.data.FlowAugmentation`;
2. activity = network(luminance, dt, state = grey steady state after ``t_pre_train`` s,
   computed once per epoch without gradient); flow estimate = decoder(activity);
3. loss = :func:`~flycluster.training.objectives.l2norm`; backward; one Adam step for network
   and decoder (two parameter groups, learning rates from the stepwise schedule, set at the
   start of every epoch as flyvis's scheduler does);
4. activity penalty (until its stop iteration): the gradient of
   :class:`~flycluster.training.objectives.ActivityPenalty` w.r.t. ``nodes_bias`` taken on the
   same forward pass, one SGD step of it on ``nodes_bias``, then clamp (strengths >= 0).
   flyvis takes this gradient after the Adam step from the graph of the same forward pass,
   so its value is the same; taking it before the step avoids backpropagating through
   parameters that the step modified in place.

Checkpoints (``chkpts/chkpt_00000`` ... as flyvis: ``torch.save`` dicts with ``network``,
``decoder`` (``{"flow": state dict}``), ``optim``, ``time``, ``val_loss``, ``iteration``,
``dt``) are written before training, every ``checkpoint_every`` epochs and at the end, each
after a validation pass (unaugmented validation sequences from the grey steady state after
``t_pre_val`` s, decoder in eval mode; mean of the per-sequence l2norm), which is appended to
``validation/loss.h5`` (and ``validation/epe.h5``). ``loss.h5`` holds the training loss of
every iteration. All files are written atomically.

Randomness: the epoch permutation, every iteration's augmentation and dropout masks come from
seeds derived from (``random_state``, epoch) and (``random_state``, iteration), so a run
resumed from a checkpoint (always at an epoch boundary, where the steady state is recomputed
anyway) continues exactly as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from flycluster.checkpoints import (
    best_checkpoint,
    list_checkpoints,
    trained_iterations,
    write_meta,
)
from flycluster.errors import CheckpointError, ConfigError
from flycluster.io_utils import atomic_path
from flycluster.training.data import FlowAugmentation, FlowSequence, stack_samples
from flycluster.training.decoder import FlowDecoder, output_node_index
from flycluster.training.objectives import ActivityPenalty, epe, l2norm, stepwise_schedule

__all__ = ["TrainConfig", "TrainResult", "train_flow"]

logger = logging.getLogger("flycluster.training")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_flow`; defaults are flyvis 1.2.0's (solver config).

    iterations : total training iterations (flyvis: 250,000).
    batch_size : sequences per iteration (4).
    dt : integration time step (0.02 s); n_frames : source frames per sample (19 -> 40 steps).
    t_pre_train, t_pre_val : grey steady-state warm-up before training / validation samples (s).
    lr_start, lr_stop, lr_steps : stepwise learning rate of network, decoder and penalty.
    lr_decoder_factor : the decoder's learning rate is ``lr_decoder_factor`` times the
        network's (flyvis's ``lr_dec`` equals ``lr_net``: 1.0).
    lr_node_factor : the learning rate of ``nodes_bias`` and ``nodes_time_const`` is
        ``lr_node_factor`` times the strengths' (flyvis: 1.0, one rate for all; not 1: a third
        Adam parameter group).
    penalty_* : activity penalty (weight 0.1, baseline 5, below 1.0, above 0.1, stop 150,000).
    decoder_shape, decoder_kernel_size, decoder_dropout, decoder_const_weight : DecoderGAVP
        (``decoder_const_weight`` None: torch's random initialisation, seeded from
        ``random_state``, instead of flyvis's constant 0.001).
    decoder_cell_types : the cell types the decoder reads (None: the connectome's 34 output
        cell types, flyvis; e.g. T4a-d and T5a-d, so that flow can only be decoded from them).
    decoder_rectify : the decoder reads relu(voltage), as flyvis (True), or the voltage (False:
        a silenced cell still passes a gradient; not flyvis).
    decoder_from : a checkpoint file (or a network folder: its best checkpoint) whose decoder
        state is the start of training, instead of ``decoder_const_weight``'s initialisation
        (not flyvis); it must read the same cell types. None: a new decoder.
    checkpoint_every : epochs between checkpoints (flyvis: 300).
    validation_batch : validation sequences simulated at once (memory only; result unchanged).
    random_state : seed of every random choice.
    """

    iterations: int = 250_000
    batch_size: int = 4
    dt: float = 0.02
    n_frames: int = 19
    t_pre_train: float = 0.5
    t_pre_val: float = 0.25
    lr_start: float = 5e-5
    lr_stop: float = 5e-6
    lr_steps: int = 10
    lr_decoder_factor: float = 1.0
    lr_node_factor: float = 1.0
    penalty_weight: float = 0.1
    penalty_baseline: float = 5.0
    penalty_below: float = 1.0
    penalty_above: float = 0.1
    penalty_stop: int | None = 150_000
    decoder_shape: tuple = (8, 2)
    decoder_kernel_size: int = 5
    decoder_dropout: float = 0.5
    decoder_const_weight: float = 1e-3
    decoder_cell_types: tuple | None = None
    decoder_from: str | None = None
    decoder_rectify: bool = True
    checkpoint_every: int = 300
    validation_batch: int = 16
    random_state: int = 0
    augmentation: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.iterations < 0 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ConfigError("iterations >= 0, batch_size >= 1 and checkpoint_every >= 1 required, "
                              f"got {self.iterations}, {self.batch_size}, {self.checkpoint_every}")
        if not self.dt > 0:
            raise ConfigError(f"dt must be > 0, got {self.dt}")
        if not self.lr_decoder_factor > 0:
            raise ConfigError(f"lr_decoder_factor must be > 0, got {self.lr_decoder_factor}")
        if not self.lr_node_factor > 0:
            raise ConfigError(f"lr_node_factor must be > 0, got {self.lr_node_factor}")
        self.decoder_shape = tuple(int(c) for c in self.decoder_shape)
        if self.decoder_cell_types is not None:
            if isinstance(self.decoder_cell_types, str) or not self.decoder_cell_types:
                raise ConfigError("decoder_cell_types: expected a non-empty list of cell types "
                                  f"or None, got {self.decoder_cell_types!r}")
            self.decoder_cell_types = tuple(str(t) for t in self.decoder_cell_types)

    def to_dict(self) -> dict:
        """Plain dict (lists, not tuples) for YAML and checkpoints."""
        def plain(x):
            if isinstance(x, dict):
                return {k: plain(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [plain(v) for v in x]
            return x

        return plain(asdict(self))


@dataclass
class TrainResult:
    """What :func:`train_flow` returns.

    network : the trained :class:`~flycluster.training.module.NetworkModule`.
    decoder : the trained :class:`~flycluster.training.decoder.FlowDecoder`.
    train_loss : (iterations,) training loss per iteration.
    val_loss : (n_checkpoints,) validation loss per checkpoint; val_iterations: when.
    path : the network folder.
    """

    network: torch.nn.Module
    decoder: torch.nn.Module
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_iterations: np.ndarray
    path: Path


def _write_h5(path: Path, values) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("data", data=np.asarray(values, dtype=np.float64))


def _read_h5(path: Path) -> np.ndarray:
    import h5py

    if not path.is_file():
        return np.zeros(0)
    with h5py.File(path, "r") as f:
        return np.atleast_1d(np.asarray(f["data"][()], dtype=np.float64))


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _format_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _as_module(network):
    if isinstance(network, torch.nn.Module):
        return network
    if hasattr(network, "module"):
        return network.module()
    raise ConfigError("network must be a flycluster Network or its module()")


def _batches(sequences, augmentation, rng, augment, device):
    lum, flow = stack_samples([augmentation(s, rng, augment=augment) for s in sequences])
    return torch.from_numpy(lum).to(device), torch.from_numpy(flow).to(device)


def silent_output_types(module, config: TrainConfig) -> list[str]:
    """Output cell types (those the decoder reads) whose central cell is at V <= 0 in the grey
    steady state training starts from (``t_pre_train``): their relu is 0 there, so the task
    passes no gradient through them. A rising count shows the network being silenced."""
    rest = module.resting_potentials(config.t_pre_train, config.dt)
    return [t for t in module.connectome.output_cell_types if rest[t] <= 0]


def decoder_state(source, decoder) -> dict:
    """The flow decoder state dict of ``source`` (a checkpoint file, or a network folder: its
    best checkpoint), checked against ``decoder``'s shapes (the same cell types, channels and
    kernel); a clear :class:`ConfigError` naming the file otherwise."""
    source = Path(source)
    if source.is_dir():
        source = best_checkpoint(source)
    if not source.is_file():
        raise ConfigError(f"decoder_from: {source}: no such checkpoint file or network folder")
    try:
        record = torch.load(source, map_location="cpu", weights_only=False)
        state = record["decoder"]["flow"]
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ConfigError(f"decoder_from: {source}: not a training checkpoint with a flow "
                          f"decoder ({type(e).__name__}: {e})") from e
    own = decoder.state_dict()
    wrong = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong or set(state) != set(own):
        types = (record.get("config") or {}).get("decoder_cell_types")
        raise ConfigError(f"decoder_from: {source}: its decoder does not fit this one (it reads "
                          f"{'the 34 output cell types' if types is None else list(types)}; "
                          f"parameters that differ: {wrong or sorted(set(state) ^ set(own))})")
    return {k: v.to(own[k].device, own[k].dtype) for k, v in state.items()}


@torch.no_grad()
def validate(module, decoder, sequences, augmentation, config: TrainConfig) -> tuple[float, float]:
    """(mean l2norm, mean EPE) over unaugmented validation sequences, eval mode."""
    was_training = decoder.training, module.training
    decoder.eval()
    module.eval()
    device = module.nodes_bias.device
    losses, epes = [], []
    try:
        for start in range(0, len(sequences), config.validation_batch):
            chunk = sequences[start:start + config.validation_batch]
            lum, flow = _batches(chunk, augmentation, None, False, device)
            state = module.steady_state(config.t_pre_val, config.dt, len(chunk))
            est = decoder(module(lum, config.dt, state=state))
            for k in range(len(chunk)):
                losses.append(float(l2norm(est[k:k + 1], flow[k:k + 1])))
                epes.append(float(epe(est[k:k + 1], flow[k:k + 1])))
    finally:
        decoder.train(was_training[0])
        module.train(was_training[1])
    return float(np.mean(losses)), float(np.mean(epes))


def train_flow(network, train_sequences: list[FlowSequence], val_sequences: list[FlowSequence],
               path, config: TrainConfig | None = None, *, resume: bool = True,
               meta: dict | None = None, log_every: float = 30.0, stop_after: int | None = None
               ) -> TrainResult:
    """Train ``network`` and a flow decoder; write/continue the network folder ``path``.

    Parameters
    ----------
    network : :class:`flycluster.network.Network` (its ``module()`` is trained) or a
        :class:`~flycluster.training.module.NetworkModule` (trained in place).
    train_sequences, val_sequences : lists of :class:`~flycluster.training.data.FlowSequence`.
    path : network folder (``chkpts/``, ``validation/loss.h5``, ``loss.h5``, ``_meta.yaml``).
    config : :class:`TrainConfig` (flyvis defaults).
    resume : continue from the last checkpoint in ``path`` if there is one (else an existing
        folder with checkpoints is an error).
    meta : extra description stored in ``_meta.yaml`` (e.g. what the data are).
    log_every : seconds between progress lines (iteration, loss, rate, ETA) on the
        ``flycluster.training`` logger.
    stop_after : stop (without a final checkpoint) after this many iterations of this call:
        for tests of resumption; a real interruption behaves the same.
    """
    config = config or TrainConfig()
    path = Path(path)
    if len(train_sequences) < config.batch_size:
        raise ConfigError(f"{len(train_sequences)} training sequences cannot fill one batch of "
                          f"{config.batch_size}")
    if not val_sequences:
        raise ConfigError("at least one validation sequence is needed")
    module = _as_module(network)
    device = module.nodes_bias.device
    augmentation = FlowAugmentation(n_frames=config.n_frames, dt=config.dt,
                                    **config.augmentation)
    with torch.random.fork_rng(devices=[]):  # the random init (const_weight None) is seeded
        torch.manual_seed(_seed(config.random_state, 4))
        try:
            index = output_node_index(module.connectome, config.decoder_cell_types)
        except ValueError as e:
            raise ConfigError(f"decoder_cell_types: {e}") from e
        decoder = FlowDecoder(index, config.decoder_shape,
                              config.decoder_kernel_size, config.decoder_dropout,
                              config.decoder_const_weight,
                              rectify=config.decoder_rectify).to(device)
    schedule = stepwise_schedule(config.iterations, config.lr_start, config.lr_stop,
                                 config.lr_steps)
    node_params = ([module.nodes_bias, module.nodes_time_const]
                   if config.lr_node_factor != 1 else [])  # a group of their own, if faster
    optimizer = torch.optim.Adam([
        {"params": [p for p in module.parameters()
                    if p.requires_grad and all(p is not q for q in node_params)],
         "lr": schedule[0]},
        {"params": list(decoder.parameters()), "lr": schedule[0] * config.lr_decoder_factor},
        *([{"params": [p for p in node_params if p.requires_grad],
            "lr": schedule[0] * config.lr_node_factor}] if node_params else []),
    ])
    penalty = ActivityPenalty(module.connectome.central_cells_index, config.penalty_baseline,
                              config.penalty_weight, config.penalty_below, config.penalty_above,
                              config.penalty_stop)
    iters_per_epoch = len(train_sequences) // config.batch_size

    chkpt_dir = path / "chkpts"
    done, chkpt_index, val_losses, val_epes, val_iters = 0, -1, [], [], []
    train_loss = []
    try:
        existing = list_checkpoints(path) if chkpt_dir.is_dir() else []
    except CheckpointError:  # a folder with only leftovers of an interrupted write
        existing = []
    if existing and not resume:
        raise CheckpointError(f"{path}: holds checkpoints already; pass resume=True to continue "
                              "or choose an empty folder")
    if existing:
        records = [torch.load(p, map_location=device, weights_only=False) for p in existing]
        last = records[-1]
        if last.get("config", {}).get("random_state", config.random_state) != config.random_state:
            raise CheckpointError(f"{existing[-1]}: was trained with another random_state")
        with torch.no_grad():
            for k, v in last["network"].items():
                getattr(module, k).copy_(v.to(device))
        decoder.load_state_dict(last["decoder"]["flow"])
        optimizer.load_state_dict(last["optim"])
        done = int(np.nan_to_num(trained_iterations(last)))
        chkpt_index = len(existing) - 1
        val_losses = [float(r["val_loss"]) for r in records]
        val_epes = [float(r.get("val_epe", np.nan)) for r in records]
        val_iters = [int(np.nan_to_num(trained_iterations(r))) for r in records]
        train_loss = list(_read_h5(path / "loss.h5")[:done])
        if len(train_loss) < done:
            train_loss += [np.nan] * (done - len(train_loss))
        logger.info("resuming %s from checkpoint %d after %d iterations", path, chkpt_index, done)
    elif config.decoder_from is not None:  # read only at the start: a resumed run needs it not
        decoder.load_state_dict(decoder_state(config.decoder_from, decoder))
        logger.info("decoder starts from %s", config.decoder_from)
    path.mkdir(parents=True, exist_ok=True)
    meta_doc = {"config": {"train": config.to_dict(), **(meta or {}),
                           "n_train_sequences": len(train_sequences),
                           "n_val_sequences": len(val_sequences)},
                "status": "running"}

    def write_status(status):
        meta_doc["status"] = status
        write_meta(path, meta_doc)

    def checkpoint():
        nonlocal chkpt_index
        loss, err = validate(module, decoder, val_sequences, augmentation, config)
        silent = silent_output_types(module, config)
        chkpt_index += 1
        record = {
            "network": module.flyvis_state_dict(),
            "decoder": {"flow": {k: v.detach().cpu().clone() for k, v in decoder.state_dict().items()}},
            "optim": optimizer.state_dict(),
            "time": time.ctime(),
            "val_loss": loss,
            "val_epe": err,
            "iteration": done - 1,  # flyvis: index of the last trained iteration
            "n_iterations_done": done,
            "dt": config.dt,
            "config": config.to_dict(),
            "silent_output_types": silent,
        }
        with atomic_path(chkpt_dir / f"chkpt_{chkpt_index:05d}", suffix="") as tmp:
            torch.save(record, tmp)
        val_losses.append(loss)
        val_epes.append(err)
        val_iters.append(done)
        _write_h5(path / "validation" / "loss.h5", val_losses)
        _write_h5(path / "validation" / "epe.h5", val_epes)
        _write_h5(path / "validation" / "iteration.h5", val_iters)
        _write_h5(path / "chkpt_index.h5", np.arange(chkpt_index + 1))
        _write_h5(path / "chkpt_iter.h5", np.asarray(val_iters) - 1)
        _write_h5(path / "loss.h5", train_loss)
        _write_h5(path / "best_chkpt_index.h5", [int(np.argmin(val_losses))])
        n_out = len(module.connectome.output_cell_types)
        logger.info("checkpoint %d at iteration %d: validation loss %.5g, EPE %.5g; "
                    "%d of %d output cell types silent at grey%s", chkpt_index, done, loss, err,
                    len(silent), n_out, f" ({', '.join(silent)})" if silent else "")

    write_status("running")
    if chkpt_index < 0:
        checkpoint()

    start_time, start_done, last_log = time.time(), done, time.time()
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    cpu_rng = torch.random.fork_rng(devices=cuda)  # the caller's random state is left untouched
    with cpu_rng:
        while done < config.iterations:
            if stop_after is not None and done - start_done >= stop_after:
                return TrainResult(module, decoder, np.asarray(train_loss), np.asarray(val_losses),
                                   np.asarray(val_iters), path)
            epoch, offset = divmod(done, iters_per_epoch)
            if offset != 0:  # only when resumed from a checkpoint not at an epoch boundary
                raise CheckpointError(
                    f"{path}: its last checkpoint (after {done} iterations) is not at an epoch "
                    f"boundary ({iters_per_epoch} iterations per epoch): it ended a run of fewer "
                    "iterations or used other training data; train into a new folder")
            order = np.random.default_rng(_seed(config.random_state, 1, epoch)).permutation(
                len(train_sequences))
            lr = schedule[min(done, len(schedule) - 1)]
            net_group, decoder_group, *node_group = optimizer.param_groups
            net_group["lr"] = lr
            decoder_group["lr"] = lr * config.lr_decoder_factor
            for group in node_group:
                group["lr"] = lr * config.lr_node_factor
            steady = module.steady_state(config.t_pre_train, config.dt, config.batch_size)
            for b in range(iters_per_epoch):
                if done >= config.iterations or (stop_after is not None
                                                 and done - start_done >= stop_after):
                    break
                rng = np.random.default_rng(_seed(config.random_state, 2, done))
                torch.manual_seed(_seed(config.random_state, 3, done))
                batch = [train_sequences[i] for i in
                         order[b * config.batch_size:(b + 1) * config.batch_size]]
                lum, flow = _batches(batch, augmentation, rng, True, device)
                optimizer.zero_grad()
                activity = module(lum, config.dt, state=steady)
                loss = l2norm(decoder(activity), flow)
                use_penalty = penalty.active(done) and config.penalty_weight > 0
                loss.backward(retain_graph=use_penalty)
                if use_penalty:
                    (pen_grad,) = torch.autograd.grad(penalty(activity), module.nodes_bias)
                optimizer.step()
                if use_penalty:
                    with torch.no_grad():
                        module.nodes_bias -= lr * pen_grad
                module.clamp()
                value = float(loss.detach())
                if not math.isfinite(value):
                    write_status("failed")
                    raise FloatingPointError(f"{path}: loss became {value} at iteration {done}")
                train_loss.append(value)
                done += 1
                now = time.time()
                if now - last_log >= log_every or done == config.iterations:
                    rate = (done - start_done) / max(now - start_time, 1e-9)
                    logger.info("iteration %d/%d loss %.5g (mean of last 100 %.5g) %.2f it/s "
                                "ETA %s", done, config.iterations, value,
                                float(np.mean(train_loss[-100:])), rate,
                                _format_seconds((config.iterations - done) / max(rate, 1e-12)))
                    last_log = now
            epoch_done = done // iters_per_epoch
            if done % iters_per_epoch == 0 and epoch_done % config.checkpoint_every == 0 \
                    and done < config.iterations:
                checkpoint()
        if not val_iters or val_iters[-1] != done:
            checkpoint()
    write_status("done")
    return TrainResult(module, decoder, np.asarray(train_loss), np.asarray(val_losses),
                       np.asarray(val_iters), path)
