# The embedding and trace figures of each cell type are drawn by rule cluster. Rule tuning
# draws the moving-edge and flash figures of a tuning cell type in one process (it reads the
# moving-edge files once): polar tuning per cluster and of the whole ensemble, the traces of
# figures.edge_trace per cluster, and the FRI of the type and its inputs per cluster.
rule tuning:
    input:
        **tuning_inputs(),
    output:
        **tuning_outputs(),
    log:
        "logs/{ensemble}/tuning/{cell_type}.log",
    benchmark:
        "logs/{ensemble}/tuning/{cell_type}.benchmark.tsv"
    wildcard_constraints:
        cell_type=_alternatives(TUNING_CELL_TYPES) or "(?!)",
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    resources:
        **job_resources(responses_estimate),
    params:
        dpi=config["figures"]["dpi"],
        edge_trace=config["figures"]["edge_trace"],
        extent=config["connectome"]["extent"],
    script:
        "../../scripts/tuning.py"
