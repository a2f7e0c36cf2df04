rule connectome:
    output:
        CONNECTOME,
    params:
        source=config["connectome"]["path"],
    log:
        "resources/logs/connectome.log",
    benchmark:
        "resources/benchmarks/connectome.tsv"
    threads: 1
    conda:
        "../../envs/simulate.yaml"
    script:
        "../../scripts/connectome.py"
