"""Which cell types a trained decoder reads the flow from: held-out loss with cell types clamped.

For each checkpoint asked for, the decoder is scored on movies no network saw (new texture
movies and every bundled photograph: flycluster.training.ensemble.held_out_sets) with nothing
clamped, with T4a-d, T5a-d, both, everything but them, all inputs, and each input cell type
alone replaced by its activity during a grey movie (flycluster.training.diagnostics.
input_ablation). A type the decoder relies on costs loss when clamped; T4/T5 being the
direction-selective cells, a decoder that loses nothing without them estimates motion from
other cells.

Usage (from the repository root, package importable)::

    python tools/decoder_inputs.py WORK/000 --options config/train.yaml --checkpoints -1
    python tools/decoder_inputs.py WORK/000 --options OPTS --set extent=5 --checkpoints 36 -1 \\
        --out benchmarks/results/.../decoder_inputs

``--inputs T4c T5c`` also lists, at the first and the asked-for checkpoints, the input cell
types of those cells with their trained strength and their time constant
(flycluster.training.diagnostics.cell_inputs): the arms of the motion detector and their speed.

Folders must be at the training extent (work folders, or published at that extent).
Writes ``<out>.csv`` and ``<out>.md`` when ``--out`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None):
    from flycluster.training.ensemble import add_option_arguments

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="network folders at the training extent")
    add_option_arguments(p)
    p.add_argument("--checkpoints", nargs="+", type=int, default=[-1],
                   help="checkpoint positions (chkpt_NNNNN in order; negative from the end)")
    p.add_argument("--textures", type=int, default=20,
                   help="held-out texture movies (with --photo-draws 0 and 0: no ablation)")
    p.add_argument("--photo-draws", type=int, default=2,
                   help="self-motions per bundled photograph (0: no photos)")
    p.add_argument("--inputs", nargs="*", default=[], metavar="CELL_TYPE",
                   help="also list the inputs of these cell types (strength, time constant)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="output prefix (.csv and .md)")
    args = p.parse_args(argv)
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    from flycluster.checkpoints import list_checkpoints, trained_iterations
    from flycluster.connectome import load_connectome
    from flycluster.errors import CheckpointError, ConfigError
    from flycluster.training.diagnostics import cell_inputs, input_ablation
    from flycluster.training.ensemble import held_out_sets, tool_options, train_config
    from flycluster.training.evaluate import markdown_table

    try:
        options, seed = tool_options(args.options, args.set, args.seed)
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    config = train_config(options, seed)  # n_frames, dt, t_pre_val as in training
    connectome = load_connectome(extent=options["extent"])
    unknown = [t for t in args.inputs if t not in connectome.cell_types]
    if unknown:
        raise SystemExit(f"--inputs: unknown cell type(s) {unknown}")
    sets = held_out_sets(options, seed, n_textures=args.textures, photo_draws=args.photo_draws)
    if sets:
        print("held out: " + ", ".join(f"{len(v)} {k} sequences" for k, v in sets.items()))
    elif not args.inputs:
        raise SystemExit("nothing to do: no held-out movies (--textures 0 --photo-draws 0) "
                         "and no --inputs")
    frames, inputs = [], []
    for folder in map(Path, args.folders):
        try:
            paths = list_checkpoints(folder)
        except CheckpointError as e:
            raise SystemExit(str(e)) from None
        bad = [k for k in args.checkpoints if not -len(paths) <= k < len(paths)]
        if bad:
            raise SystemExit(f"{folder}: no checkpoint at position {bad[0]} "
                             f"({len(paths)} checkpoints)")
        for cell_type in args.inputs:
            for path in dict.fromkeys([paths[0]] + [paths[k] for k in args.checkpoints]):
                table = cell_inputs(path, connectome, cell_type)
                table.insert(0, "network", str(folder))
                table.insert(1, "checkpoint", path.name)
                table.insert(2, "cell_type", cell_type)
                inputs.append(table)
        for position in args.checkpoints:
            path = paths[position]
            iterations = trained_iterations(torch.load(path, map_location="cpu",
                                                       weights_only=False))
            for name, sequences in sets.items():
                table = input_ablation(path, sequences, connectome,
                                       n_frames=config.n_frames, dt=config.dt,
                                       t_pre=config.t_pre_val)
                table.insert(0, "network", str(folder))
                table.insert(1, "checkpoint", path.name)
                table.insert(2, "iterations", iterations)
                table.insert(3, "movies", name)
                frames.append(table)
                top = table.iloc[1:].nlargest(6, "loss_increase")
                print(f"{folder} {path.name} ({iterations:.0f} iterations), {name}: loss ratio "
                      f"{table['loss_ratio'].iloc[0]:.3f}; clamped: " + ", ".join(
                          f"{a} +{d:.3f}" for a, d in zip(top["ablation"], top["loss_increase"])),
                      flush=True)
    table = pd.concat(frames, ignore_index=True) if frames else None
    inputs = pd.concat(inputs, ignore_index=True) if inputs else None
    if inputs is not None:
        print(markdown_table(inputs))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = "# Decoder inputs\n\n"
        if table is not None:
            table.to_csv(out.with_suffix(".csv"), index=False)
            text += ("Held-out loss with cell types clamped. loss_ratio: loss over that of "
                     "predicting no flow; loss_increase: against nothing clamped (`none`).\n\n"
                     "## Groups\n\n" + markdown_table(table[table["n_types"] != 1])
                     + "\n\n## Every row\n\n" + markdown_table(table) + "\n\n")
        if inputs is not None:
            inputs.to_csv(out.parent / f"{out.name}_cell_inputs.csv", index=False)
            text += ("## Inputs of " + ", ".join(args.inputs)
                     + " (syn_strength; source_time_const in s)\n\n" + markdown_table(inputs)
                     + "\n")
        out.with_suffix(".md").write_text(text)
        print(f"wrote {out}.*")


if __name__ == "__main__":
    main()
