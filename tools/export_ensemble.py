"""Export trained networks as a compact ensemble folder: one checkpoint per network.

Each source network folder (e.g. one the train rule or tools/train_network.py published, at
the analysis extent) becomes ``OUT/<name>/`` with its chosen checkpoint alone (no optimiser
state), ``validation/loss.h5`` and ``_meta.yaml`` (source, checkpoint, iterations, validation
loss against the untrained start, the recipe, this command): the form flyvis releases its
ensembles in, read by the ``flyvis`` ensemble kind (``ensemble.path: OUT``).

    python tools/export_ensemble.py /tmp/train/000 /tmp/train/001 --out my_ensemble
    python tools/export_ensemble.py runs/* --checkpoint best --names 000 001 002 --out ens
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="trained network folders (published)")
    p.add_argument("--out", required=True, help="ensemble folder to write (one folder per network)")
    p.add_argument("--names", nargs="*", default=None,
                   help="network names in OUT (default: 000, 001, ... in the given order)")
    p.add_argument("--checkpoint", default="best",
                   help="best (lowest validation loss), last, start or a checkpoint index")
    p.add_argument("--extent", type=int, default=15, help="the analysis extent (flyvis 15)")
    args = p.parse_args(argv)
    names = args.names or [f"{i:03d}" for i in range(len(args.folders))]
    if len(names) != len(args.folders) or len(set(names)) != len(names):
        raise SystemExit(f"--names: expected {len(args.folders)} distinct names, got {names}")
    from flycluster.checkpoints import read_meta
    from flycluster.connectome import load_connectome
    from flycluster.errors import FlyclusterError
    from flycluster.training.export import export_network

    connectome = load_connectome(None, extent=args.extent)
    command = "python tools/export_ensemble.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, folder in zip(names, args.folders):
        try:
            dest = export_network(folder, out / name, connectome, args.checkpoint,
                                  provenance={"command": command})
        except FlyclusterError as e:
            raise SystemExit(f"{folder}: {e}") from None
        info = read_meta(dest)["exported"]
        print(f"{name}: {folder} {info['checkpoint']} ({info['iterations']:.0f} iterations), "
              f"validation loss {info['validation_loss_start']:.5g} -> "
              f"{info['validation_loss']:.5g} (ratio {info['loss_ratio']:.3f})")


if __name__ == "__main__":
    main()
