if GENERATED_ENSEMBLE:

    rule synthetic_ensemble:
        input:
            connectome=CONNECTOME,
        output:
            loss_files=expand(
                "resources/ensembles/{{ensemble}}/{network}/validation/loss.h5",
                network=NETWORKS,
            ),
            planted_groups=(
                ["results/{ensemble}/planted_groups.csv"] if KIND == "planted" else []
            ),
        params:
            dest=lambda wildcards: f"resources/ensembles/{wildcards.ensemble}",
            kind=KIND,
            n_networks=config["ensemble"]["n_networks"],
            random_state=config["ensemble"]["random_state"],
            extent=config["connectome"]["extent"],
            options=config["ensemble"]["synthetic"],
            planted=config["ensemble"]["planted"],
        log:
            "results/{ensemble}/logs/synthetic_ensemble.log",
        benchmark:
            "results/{ensemble}/benchmarks/synthetic_ensemble.tsv"
        threads: 1
        conda:
            "../../envs/simulate.yaml"
        script:
            "../../scripts/synthetic_ensemble.py"
