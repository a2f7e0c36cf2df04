"""Train one network of an ensemble outside the workflow (the train rule's science, on the command line).

Reads ``ensemble.training`` options from a YAML file (the same keys as the workflow config's
``ensemble.training``; a file holding a whole workflow config works too), trains network
``--index`` into ``--work`` (resumed if it holds checkpoints: rerun the same command after an
interruption) and publishes the flyvis-format folder at ``--analysis-extent`` to ``--dest``.

    python tools/train_network.py --options config/train.yaml --index 0 \\
        --work /tmp/train/work --dest /tmp/train/000 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import time


def main(argv=None):
    from flycluster.training.ensemble import add_option_arguments

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_option_arguments(p)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--work", required=True)
    p.add_argument("--dest", required=True)
    p.add_argument("--analysis-extent", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--log-every", type=float, default=60.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="stop at this many iterations (a checkpoint), unpublished: screen a "
                        "network early; the same command without it continues")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    from flycluster.errors import ConfigError
    from flycluster.training.ensemble import tool_options, train_network

    try:
        options, seed = tool_options(args.options, args.set, args.seed)
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    logging.getLogger("flycluster.training").info("options: %s", options)
    t0 = time.time()
    try:
        result = train_network(args.work, args.dest, args.index, options, seed=seed,
                               analysis_extent=args.analysis_extent, device=args.device,
                               log_every=args.log_every, stop_at=args.stop_at)
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    if result is None:
        print(f"network {args.index}: {args.stop_at} iterations trained already (--stop-at)")
        return
    print(f"trained {len(result.train_loss)} iterations in {time.time() - t0:.0f} s; "
          f"validation loss {result.val_loss[0]:.5g} -> {result.val_loss[-1]:.5g}")


if __name__ == "__main__":
    main()
