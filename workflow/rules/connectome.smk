rule connectome:
    output:
        CONNECTOME,
    log:
        "logs/connectome.log",
    benchmark:
        "logs/connectome.benchmark.tsv"
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    params:
        source=config["connectome"]["path"],
    script:
        "../../scripts/connectome.py"
