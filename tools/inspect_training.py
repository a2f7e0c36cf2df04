"""What training did to network folders: validation loss against the task's reference losses,
silent cell types and how the parameters moved, per checkpoint.

Usage (from the repository root, package importable)::

    python tools/inspect_training.py resources/training/train/000 --options config/train.yaml
    python tools/inspect_training.py work/000 work/001 --out results/train/inspection

``--options``: the config (or ``ensemble.training`` file) the folders were trained with; its
validation movies are rendered (at the training extent) to give the loss of predicting no flow
and of an oracle of each frame's mean flow (flycluster.training.diagnostics.flow_baselines),
and every checkpoint's decoder is scored on them (correlation of estimated with true flow, and
how much the estimate depends on the network's activity: readout_scores). Folders given with
``--options`` must be at the training extent (the work folders). ``--held-out`` (with
``--options``) also scores every checkpoint on movies no network saw: 20 new texture movies and
every bundled photograph under 2 self-motions (flycluster.training.ensemble.held_out_sets;
columns ``textures_loss_ratio``, ``photos_loss_ratio``: loss over the loss of predicting no
flow, and their correlations). The validation set of a config is small (9 sequences by
default), so its loss swings by several per cent between checkpoints; these sets do not.
``--every K`` keeps one row per K checkpoints (and the last): scoring is ~1-15 s per
checkpoint and set at extent 8.
Writes ``<out>.csv`` and ``<out>.md`` when ``--out`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None):
    from flycluster.training.ensemble import add_option_arguments

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="network folders (work or published)")
    add_option_arguments(p, required=False)
    p.add_argument("--out", default=None, help="output prefix (.csv and .md)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--every", type=int, default=1,
                   help="one row per EVERY checkpoints (and the last), for long runs")
    p.add_argument("--held-out", action="store_true",
                   help="also score on new textures and all photographs (needs --options)")
    args = p.parse_args(argv)
    if (args.held_out or args.set) and not args.options:
        p.error("--held-out and --set need --options (the config the folders were trained with)")
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    from flycluster.training.diagnostics import checkpoint_diagnostics, flow_baselines
    from flycluster.training.ensemble import train_config
    from flycluster.training.evaluate import markdown_table

    baselines, validation, options, seed, held_out = None, None, {}, 0, None
    if args.options:
        from flycluster.errors import ConfigError
        from flycluster.training.ensemble import held_out_sets, tool_options, training_data

        try:
            options, seed = tool_options(args.options, args.set, args.seed)
        except ConfigError as e:
            raise SystemExit(str(e)) from None
        _, validation = training_data(options["data"], options["validation"],
                                      options["extent"], seed)
        baselines = flow_baselines(validation, options["n_frames"], options["dt"])
        print(f"validation ({baselines['n_sequences']} sequences): loss of predicting no flow "
              f"{baselines['zero']:.5g}, of each frame's mean flow (oracle) "
              f"{baselines['frame_mean']:.5g}")
        if args.held_out:
            held_out = held_out_sets(options, seed)
            print("held out: " + ", ".join(f"{len(v)} {k} sequences"
                                           for k, v in held_out.items()))
    config = train_config(options, seed)  # n_frames, dt, t_pre_val: the options' or flyvis's
    frames = []
    for folder in map(Path, args.folders):
        table = checkpoint_diagnostics(folder, sequences=validation, n_frames=config.n_frames,
                                       dt=config.dt, t_pre_val=config.t_pre_val,
                                       held_out=held_out, every=args.every)
        table.insert(0, "network", str(folder))
        if baselines:
            table.insert(4, "loss_vs_no_flow", table["val_loss"] / baselines["zero"])
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    print(markdown_table(table.drop(columns="silent_types")))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out.with_suffix(".csv"), index=False)
        head = ""
        if baselines:
            head = (f"Validation loss of predicting no flow: {baselines['zero']:.5g}; of each "
                    f"frame's mean flow (oracle): {baselines['frame_mean']:.5g}.\n\n")
        out.with_suffix(".md").write_text(f"# Training inspection\n\n{head}"
                                          + markdown_table(table) + "\n")
        print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
