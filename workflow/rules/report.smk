rule summary:
    input:
        clustering=expand(
            "results/{{ensemble}}/clustering/{cell_type}.nc", cell_type=CELL_TYPES
        ),
        planted_groups=planted_groups_file(),
        published=[f"results/{ENSEMBLE}/published.csv"] if PUBLISHED else [],
    output:
        table=report(
            "results/{ensemble}/summary.csv",
            caption="../report/summary_table.rst",
            category="Summary",
        ),
        figure=report(
            "results/{ensemble}/summary.png",
            caption="../report/summary.rst",
            category="Summary",
        ),
        figure_pdf="results/{ensemble}/summary.pdf",
    log:
        "logs/{ensemble}/summary.log",
    benchmark:
        "logs/{ensemble}/summary.benchmark.tsv"
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    params:
        planted_cell_types=(
            config["ensemble"]["planted"]["cell_types"] if KIND == "planted" else []
        ),
        dpi=config["figures"]["dpi"],
    script:
        "../../scripts/summary.py"


# One short target per cell type: `snakemake --cores 2 T4c` makes (or updates) the
# clustering and figures of T4c alone; CT1(M10) is `CT1_M10` (flycluster.config.target_name).
for _cell_type in CELL_TYPES:

    rule:
        name:
            fc.target_name(_cell_type)
        input:
            cell_type_outputs(_cell_type),
        localrule: True
