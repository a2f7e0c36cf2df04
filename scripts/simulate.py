"""Rule simulate: one network x one stimulus set -> one response file.

The checkpoint is an input of the rule (the workflow picked the network's best one), so a
replaced or touched checkpoint re-simulates the network.
"""

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.checkpoints import task_error
    from flycluster.network import load_network
    from flycluster.responses import simulate_stimulus_file

    params = snakemake.params
    checkpoint = snakemake.input.checkpoint
    network = load_network(checkpoint, connectome=snakemake.input.connectome,
                           extent=params.extent, device=params.device)
    log.info("network %s: checkpoint %s on %s", snakemake.wildcards.network, checkpoint,
             getattr(network, "device", params.device))
    simulate_stimulus_file(network, snakemake.input.stimulus, snakemake.output[0],
                           network_name=snakemake.wildcards.network, checkpoint=str(checkpoint),
                           task_error=task_error(params.network_dir, loss_name=params.loss_name),
                           batch_size=params.batch_size)
    log.info("wrote %s", snakemake.output[0])


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
