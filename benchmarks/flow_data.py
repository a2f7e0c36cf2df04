"""Does training on the ~13 scikit-image photos overfit, compared with procedural textures?

Trains small networks on the optic-flow task with three training sets and validates all of
them on the same held-out photographs (movies of photos that no training set contains):

- ``photos``: one movie per training photo (the photos minus the held-out ones);
- ``textures``: as many texture movies as there are training photos;
- ``textures_x4``: four times as many texture movies (the "unlimited" data).

Reports per training set: the loss on its own training sequences and on the held-out photos
(both unaugmented, flyvis's l2norm, after the last iteration) relative to the untrained start,
and the generalisation gap. Tiny scale on purpose (small lattice, half-size frames, a larger
learning rate than flyvis's 5e-5 so that a few hundred iterations move anything), so it shows
tendencies, not flyvis-scale results.

Usage (from the repository root, package importable)::

    python benchmarks/flow_data.py --iterations 300 --extent 4 --json flow_data.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--extent", type=int, default=4)
    p.add_argument("--height", type=int, default=218)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--frames", type=int, default=30, help="frames per movie (24/s)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--held-out", nargs="+", default=["astronaut", "chelsea", "coffee"])
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--sets", nargs="+", default=["photos", "textures", "textures_x4"])
    p.add_argument("--val-every", type=int, default=300,
                   help="iterations between validations (rounded to whole epochs)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest for these small problems on a busy machine)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)

    from flycluster.connectome import load_connectome
    from flycluster.network import Network
    from flycluster.stimuli.photos import PHOTOS
    from flycluster.training.data import FlowAugmentation, photo_flow_sequences, texture_flow_sequences
    from flycluster.training.decoder import FlowDecoder, output_node_index
    from flycluster.training.loop import TrainConfig, train_flow, validate

    geometry = dict(frames_per_movie=args.frames, height=args.height, width=args.width,
                    extent=args.extent)
    train_photos = [p for p in PHOTOS if p not in args.held_out]
    t0 = time.time()
    held_out = photo_flow_sequences(args.held_out, random_state=10_000 + args.random_state,
                                    **geometry)
    data = {}
    if "photos" in args.sets:
        data["photos"] = photo_flow_sequences(train_photos, random_state=args.random_state,
                                              **geometry)
    if "textures" in args.sets:
        data["textures"] = texture_flow_sequences(len(train_photos), random_state=args.random_state,
                                                  texture_shape=(768, 768), **geometry)
    if "textures_x4" in args.sets:
        data["textures_x4"] = texture_flow_sequences(4 * len(train_photos),
                                                     random_state=args.random_state + 1,
                                                     texture_shape=(768, 768), **geometry)
    print(f"data rendered in {time.time() - t0:.0f} s: held-out {len(held_out)} sequences, "
          + ", ".join(f"{k} {len(v)}" for k, v in data.items()))
    connectome = load_connectome(extent=args.extent)
    results = {}
    for name, sequences in data.items():
        cfg = TrainConfig(iterations=args.iterations, batch_size=args.batch_size,
                          lr_start=args.lr, lr_stop=args.lr,
                          checkpoint_every=max(1, args.val_every // (len(sequences) // args.batch_size)),
                          random_state=args.random_state)
        t = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            r = train_flow(Network.initial(connectome), sequences, held_out, f"{tmp}/net", cfg,
                           log_every=1e9)
        seconds = time.time() - t
        aug = FlowAugmentation(n_frames=cfg.n_frames, dt=cfg.dt)
        train_end = validate(r.network, r.decoder, sequences, aug, cfg)[0]
        # the untrained start on the training sequences: a fresh network and decoder
        fresh = Network.initial(connectome).module()
        train_start = validate(fresh, FlowDecoder(output_node_index(connectome)), sequences, aug,
                               cfg)[0]
        results[name] = {
            "n_train_sequences": len(sequences),
            "train_loss_start": train_start, "train_loss_end": train_end,
            "heldout_loss_start": float(r.val_loss[0]), "heldout_loss_end": float(r.val_loss[-1]),
            "heldout_curve": {"iteration": r.val_iterations.tolist(), "loss": r.val_loss.tolist()},
            "train_ratio": train_end / train_start,
            "heldout_ratio": float(r.val_loss[-1] / r.val_loss[0]),
            "seconds": seconds,
        }
        print(f"{name:12s} train {train_start:8.3f} -> {train_end:8.3f} "
              f"({train_end / train_start:.3f})  held-out photos {r.val_loss[0]:8.3f} -> "
              f"{r.val_loss[-1]:8.3f} ({r.val_loss[-1] / r.val_loss[0]:.3f})  {seconds:.0f} s",
              flush=True)
    out = {"args": vars(args), "machine": platform.processor() or platform.machine(),
           "platform": platform.platform(), "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
