rule cluster:
    input:
        responses=response_files(NATURALISTIC),
    output:
        "results/{ensemble}/clustering/{cell_type}.nc",
    params:
        umap=config["umap"],
        gmm=config["gmm"],
        stability=config["stability"],
        nonfinite=config["cluster"]["nonfinite"],
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
