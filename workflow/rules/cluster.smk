# One job per cell type: UMAP + Gaussian mixtures (+ stability), then the cell type's embedding
# and trace figures from the written clustering file. Drawing the figures in the same process
# spares a second Python process per cell type that would import xarray, scipy and read every
# response file again (about 2 s of CPU each, 65 times in the default run).
rule cluster:
    input:
        responses=response_files(NATURALISTIC),
        norms="results/{ensemble}/norms.nc",
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
    params:
        umap=config["umap"],
        gmm=config["gmm"],
        stability=config["stability"],
        nonfinite=config["cluster"]["nonfinite"],
        trace_sample=config["figures"]["trace_sample"],
        dpi=config["figures"]["dpi"],
    log:
        "results/{ensemble}/logs/cluster/{cell_type}.log",
    benchmark:
        "results/{ensemble}/benchmarks/cluster/{cell_type}.tsv"
    threads: config["cluster"]["threads"]
    resources:
        mem_mb=config["cluster"]["mem_mb"],
        runtime=config["cluster"]["runtime"],
    conda:
        "../../envs/cluster.yaml"
    script:
        "../../scripts/cluster.py"
