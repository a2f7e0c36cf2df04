rule figures:
    input:
        clustering="results/{ensemble}/clustering/{cell_type}.nc",
        responses=response_files(NATURALISTIC),
        norms="results/{ensemble}/norms.nc",
    output:
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
        trace_sample=config["figures"]["trace_sample"],
        dpi=config["figures"]["dpi"],
    log:
        "results/{ensemble}/logs/figures/{cell_type}.log",
    benchmark:
        "results/{ensemble}/benchmarks/figures/{cell_type}.tsv"
    threads: 1
    conda:
        "../../envs/cluster.yaml"
    script:
        "../../scripts/figures.py"


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
    wildcard_constraints:
        cell_type=_alternatives(TUNING_CELL_TYPES) or "(?!)",
    params:
        dpi=config["figures"]["dpi"],
    log:
        "results/{ensemble}/logs/tuning/{cell_type}.log",
    benchmark:
        "results/{ensemble}/benchmarks/tuning/{cell_type}.tsv"
    threads: 1
    conda:
        "../../envs/cluster.yaml"
    script:
        "../../scripts/tuning.py"
