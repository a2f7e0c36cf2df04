"""Where one whole training iteration's time goes (flycluster only): data, network, decoder,
loss, backward, activity penalty, Adam, clamp.

``benchmarks/train.py`` compares the network part with flyvis. This script times every part of
the iteration ``flycluster.training.loop.train_flow`` runs (batch 4, flyvis's 19 frames
resampled to 40 steps at dt 0.02 s, the decoder and loss on every frame, the penalty's second
backward pass), at the training extent, on the texture movies of
``benchmarks/configs/train_lr_flyvis_net.yaml`` (4 movies: enough to fill batches). Each part's
mean over ``--iterations`` iterations after 10 warm-up iterations is printed; the last line
reads ``extent E: X ms per iteration (N iterations/s)``.

Usage (from the repository root, package importable)::

    python benchmarks/train_iteration.py --extent 8 --threads 1 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate import machine  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "train_lr_flyvis_net.yaml"
PARTS = ("data", "network forward", "decoder forward", "loss", "backward", "penalty backward",
         "adam", "clamp")


def measure(extent: int, iterations: int, warmup: int = 10) -> dict:
    """Mean seconds per part of one training iteration at ``extent``."""
    import torch

    from flycluster.training.data import FlowAugmentation
    from flycluster.training.decoder import FlowDecoder, output_node_index
    from flycluster.training.ensemble import (
        initial_network,
        read_training_options,
        train_config,
        training_data,
    )
    from flycluster.training.loop import _batches
    from flycluster.training.objectives import ActivityPenalty, l2norm

    options, _ = read_training_options(CONFIG, {"extent": extent})
    options["data"]["n_movies"] = 4
    train, _ = training_data(options["data"], options["validation"], extent, 0)
    config = train_config(options, 1)
    module = initial_network(extent, 1).module()
    augmentation = FlowAugmentation(n_frames=config.n_frames, dt=config.dt)
    decoder = FlowDecoder(output_node_index(module.connectome))
    optimizer = torch.optim.Adam([{"params": list(module.parameters()), "lr": 5e-5},
                                  {"params": list(decoder.parameters()), "lr": 1e-3}])
    penalty = ActivityPenalty(module.connectome.central_cells_index)
    steady = module.steady_state(config.t_pre_train, config.dt, config.batch_size)
    totals = dict.fromkeys(PARTS, 0.0)

    for it in range(warmup + iterations):
        marks = [time.perf_counter()]
        batch = [train[(it * 4 + j) % len(train)] for j in range(4)]
        lum, flow = _batches(batch, augmentation, np.random.default_rng(it), True, "cpu")
        marks.append(time.perf_counter())
        optimizer.zero_grad()
        activity = module(lum, config.dt, state=steady)
        marks.append(time.perf_counter())
        estimate = decoder(activity)
        marks.append(time.perf_counter())
        loss = l2norm(estimate, flow)
        marks.append(time.perf_counter())
        loss.backward(retain_graph=True)
        marks.append(time.perf_counter())
        torch.autograd.grad(penalty(activity), module.nodes_bias)
        marks.append(time.perf_counter())
        optimizer.step()
        marks.append(time.perf_counter())
        module.clamp()
        marks.append(time.perf_counter())
        if it >= warmup:
            for part, a, b in zip(PARTS, marks[:-1], marks[1:]):
                totals[part] += b - a
    parts = {k: v / iterations for k, v in totals.items()}
    return {"extent": extent, "iterations": iterations, "n_hexals": int(lum.shape[-1]),
            "n_nodes": int(activity.shape[-1]), "steps": int(lum.shape[1]),
            "seconds": parts, "total": sum(parts.values())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extent", type=int, default=8)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the result here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = measure(args.extent, args.iterations)
    result["machine"] = machine()
    for part, seconds in result["seconds"].items():
        print(f"{part:18s} {1000 * seconds:8.2f} ms  {100 * seconds / result['total']:5.1f} %")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"extent {args.extent}: {1000 * result['total']:.1f} ms per iteration "
          f"({1 / result['total']:.2f} iterations/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
