# umap compiles ~250 numba functions in every new process unless they are in numba's on-disk
# cache (NUMBA_CACHE_DIR, shared by all jobs; scripts/_job.py). This job fills the cache once,
# early and on one core, so that no cluster job compiles (two cluster jobs starting together on
# an empty cache would both compile, ~50 s of CPU each). Its output only records that it ran:
# `ancient` keeps a rerun of it from rerunning the clusterings, and a deleted cache is refilled
# by the first cluster job (same results, only slower).
rule umap_jit:
    output:
        "resources/umap_jit.txt",
    log:
        "logs/umap_jit.log",
    benchmark:
        "logs/umap_jit.benchmark.tsv"
    priority: 1  # start it with the first jobs, next to the serial synthetic_ensemble
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    params:
        umap=config["umap"],
        random_state=config["analysis"]["random_state"],
    script:
        "../../scripts/umap_jit.py"


# One job per cell type: UMAP + Gaussian mixtures (+ stability), then the cell type's embedding
# and trace figures from the written clustering file. Drawing the figures in the same process
# spares a second Python process per cell type that would import xarray, scipy and read every
# response file again (about 2 s of CPU each, 65 times in the default run).
rule cluster:
    input:
        responses=response_files(NATURALISTIC),
        norms="results/{ensemble}/norms.nc",
        jit=ancient("resources/umap_jit.txt"),
    output:
        clustering="results/{ensemble}/clustering/{cell_type}.nc",
        embedding=report(
            "results/{ensemble}/figures/{cell_type}/embedding.png",
            caption="../report/embedding.rst",
            category="Cell types",
            subcategory="{cell_type}",
            labels={"cell type": "{cell_type}", "figure": "embedding"},
        ),
        embedding_pdf="results/{ensemble}/figures/{cell_type}/embedding.pdf",
        traces=report(
            "results/{ensemble}/figures/{cell_type}/traces.png",
            caption="../report/traces.rst",
            category="Cell types",
            subcategory="{cell_type}",
            labels={"cell type": "{cell_type}", "figure": "traces"},
        ),
        traces_pdf="results/{ensemble}/figures/{cell_type}/traces.pdf",
    log:
        "logs/{ensemble}/cluster/{cell_type}.log",
    benchmark:
        "logs/{ensemble}/cluster/{cell_type}.benchmark.tsv"
    conda:
        "../../envs/cluster.yaml"
    threads: config["cluster"]["threads"]
    resources:
        **job_resources(cluster_estimate, "cluster"),
    params:
        umap=config["umap"],
        gmm=config["gmm"],
        stability=config["stability"],
        nonfinite=config["cluster"]["nonfinite"],
        trace_sample=config["figures"]["trace_sample"],
        dpi=config["figures"]["dpi"],
    script:
        "../../scripts/cluster.py"
