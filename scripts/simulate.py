"""Rule simulate: one network x one stimulus set -> one response file."""

from _job import start

log = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

from flycluster.checkpoints import best_checkpoint, task_error  # noqa: E402
from flycluster.network import load_network  # noqa: E402
from flycluster.responses import simulate_stimulus_file  # noqa: E402

params = snakemake.params
network_dir = Path(params.network_dir)
checkpoint = best_checkpoint(network_dir, loss_name=params.loss_name)
network = load_network(checkpoint, connectome=snakemake.input.connectome, extent=params.extent,
                       device=params.device)
log.info("network %s: checkpoint %s on %s", snakemake.wildcards.network, checkpoint,
         getattr(network, "device", params.device))
simulate_stimulus_file(network, snakemake.input.stimulus, snakemake.output[0],
                       network_name=snakemake.wildcards.network, checkpoint=str(checkpoint),
                       task_error=task_error(network_dir, loss_name=params.loss_name),
                       batch_size=params.batch_size)
log.info("wrote %s", snakemake.output[0])
