"""Rule train: train one network on the optic-flow task (resuming its work folder), publish it."""

from _job import start


def main(snakemake):
    log = start(snakemake)
    import torch

    torch.set_num_threads(max(1, int(snakemake.threads)))
    from flycluster.training.ensemble import train_network

    params = snakemake.params
    options = dict(params.options)
    run = snakemake.config["ensemble"]["training"]  # device, log_every: not what is trained
    log.info("network %s: training in %s, publishing to %s", snakemake.wildcards.network,
             params.work, params.dest)
    train_network(params.work, params.dest, params.index, options, seed=params.seed,
                  connectome=snakemake.input.connectome, analysis_extent=params.extent,
                  device=run["device"], log_every=run["log_every"])


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
