# The embedding and trace figures of each cell type are drawn by rule cluster.
rule tuning:
    input:
        clustering="results/{ensemble}/clustering/{cell_type}.nc",
        responses=response_files(MOVING_EDGES),
    output:
        tuning=report(
            "results/{ensemble}/figures/{cell_type}/tuning.png",
            caption="../report/tuning.rst",
            category="Cell types",
            subcategory="{cell_type}",
            labels={"cell type": "{cell_type}", "figure": "direction tuning"},
        ),
        tuning_pdf="results/{ensemble}/figures/{cell_type}/tuning.pdf",
    log:
        "logs/{ensemble}/tuning/{cell_type}.log",
    benchmark:
        "logs/{ensemble}/tuning/{cell_type}.benchmark.tsv"
    wildcard_constraints:
        cell_type=_alternatives(TUNING_CELL_TYPES) or "(?!)",
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../../scripts/tuning.py"
