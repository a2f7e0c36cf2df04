# Ensemble-level indices of all cell types (issue 12): the flash response index from the
# flash set, the direction selectivity index from the moving edges, and their figure
# (the paper's Fig. 2b-c).
if FLASHES:

    rule fri:
        input:
            response_files(FLASHES),
        output:
            "results/{ensemble}/fri.nc",
        log:
            "logs/{ensemble}/fri.log",
        benchmark:
            "logs/{ensemble}/fri.benchmark.tsv"
        conda:
            "../../envs/cluster.yaml"
        threads: 1
        resources:
            **job_resources(responses_estimate),
        params:
            radius=config["figures"]["fri_radius"],
            t_stim=config["stimuli"][FLASHES]["t_stim"],
            dt=config["stimuli"][FLASHES]["dt"],
        script:
            "../../scripts/fri.py"


if MOVING_EDGES:

    rule dsi:
        input:
            response_files(MOVING_EDGES),
        output:
            "results/{ensemble}/dsi.nc",
        log:
            "logs/{ensemble}/dsi.log",
        benchmark:
            "logs/{ensemble}/dsi.benchmark.tsv"
        conda:
            "../../envs/cluster.yaml"
        threads: 1
        resources:
            **job_resources(responses_estimate),
        script:
            "../../scripts/dsi.py"


rule ensemble_fri_dsi:
    input:
        fri="results/{ensemble}/fri.nc",
        dsi="results/{ensemble}/dsi.nc",
    output:
        figure=report(
            "results/{ensemble}/figures/ensemble_fri_dsi.png",
            caption="../report/ensemble_fri_dsi.rst",
            category="Ensemble",
        ),
        figure_pdf="results/{ensemble}/figures/ensemble_fri_dsi.pdf",
    log:
        "logs/{ensemble}/ensemble_fri_dsi.log",
    benchmark:
        "logs/{ensemble}/ensemble_fri_dsi.benchmark.tsv"
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../../scripts/ensemble_fri_dsi.py"


# One preview per simulated stimulus set (frames on the hexagonal lattice, PNG + GIF).
rule stimulus_preview:
    input:
        "resources/stimuli/{stimulus_set}.nc",
    output:
        png=report(
            "results/stimuli/{stimulus_set}.png",
            caption="../report/stimulus_preview.rst",
            category="Stimuli",
            labels={"stimulus set": "{stimulus_set}", "figure": "frames"},
        ),
        gif=(
            [
                report(
                    "results/stimuli/{stimulus_set}.gif",
                    caption="../report/stimulus_preview.rst",
                    category="Stimuli",
                    labels={"stimulus set": "{stimulus_set}", "figure": "animation"},
                )
            ]
            if config["figures"]["preview"]["gif"]
            else []
        ),
    log:
        "logs/stimuli/{stimulus_set}.preview.log",
    benchmark:
        "logs/stimuli/{stimulus_set}.preview.benchmark.tsv"
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    params:
        preview=config["figures"]["preview"],
    script:
        "../../scripts/stimulus_preview.py"


# flyvis's published clusterings beside ours (ensemble.published_clusterings): the
# comparison columns joined into summary.csv, and both embeddings per cell type.
if PUBLISHED:

    rule published:
        input:
            clustering=expand(
                "results/{{ensemble}}/clustering/{cell_type}.nc", cell_type=CELL_TYPES
            ),
        output:
            table="results/{ensemble}/published.csv",
            figures=[
                report(
                    f"results/{{ensemble}}/figures/{cell_type}/published.png",
                    caption="../report/published.rst",
                    category="Cell types",
                    subcategory=cell_type,
                    labels={"cell type": cell_type, "figure": "published clustering"},
                )
                for cell_type in CELL_TYPES
            ],
            figures_pdf=expand(
                "results/{{ensemble}}/figures/{cell_type}/published.pdf",
                cell_type=CELL_TYPES,
            ),
        log:
            "logs/{ensemble}/published.log",
        benchmark:
            "logs/{ensemble}/published.benchmark.tsv"
        conda:
            "../../envs/cluster.yaml"
        threads: 1
        params:
            folder=PUBLISHED,
            cell_types=CELL_TYPES,
            dpi=config["figures"]["dpi"],
        script:
            "../../scripts/published.py"
