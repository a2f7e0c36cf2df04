"""Rule umap_jit: compile umap's numba functions once into the shared numba cache."""

import time

from _job import start


def main(snakemake):
    log = start(snakemake)
    from flycluster.clustering import warm_umap_cache
    from flycluster.io_utils import atomic_path

    t0 = time.process_time()
    info = warm_umap_cache(snakemake.params.umap, random_state=snakemake.params.random_state)
    info["cpu_seconds"] = round(time.process_time() - t0, 2)
    with atomic_path(snakemake.output[0]) as tmp:
        with open(tmp, "w") as f:
            f.writelines(f"{key}: {value}\n" for key, value in info.items())
    log.info("umap compiled or loaded from the numba cache: %s", info)


main(snakemake)  # noqa: F821 (snakemake is injected by the script directive)
