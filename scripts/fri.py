"""Rule fri: flash response index of every cell type and network (results/{ensemble}/fri.nc)."""

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.ensemble_indices import ensemble_fri, write_index

    p = snakemake.params
    fri = ensemble_fri(list(snakemake.input), radius=p.radius, t_stim=p.t_stim, dt=p.dt)
    write_index(fri, snakemake.output[0])
    log.info("FRI (radius %d) of %d cell types x %d networks; median per type:\n%s",
             p.radius, fri.sizes["cell_type"], fri.sizes["network"],
             fri.median("network").to_series().round(3).to_string())


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
