if GENERATED_ENSEMBLE:

    # A synthetic or planted ensemble in flyvis's layout, one checkpoint per network; only the
    # options of the configured kind are passed (ensemble.synthetic or ensemble.planted).
    rule synthetic_ensemble:
        input:
            connectome=CONNECTOME,
        output:
            checkpoints=generated_network_files("checkpoints"),
            loss_files=generated_network_files("loss_files"),
            planted_groups=planted_groups_file(),
        log:
            f"logs/{ENSEMBLE}/synthetic_ensemble.log",
        benchmark:
            f"logs/{ENSEMBLE}/synthetic_ensemble.benchmark.tsv"
        conda:
            "../../envs/simulate.yaml"
        threads: 1
        params:
            dest=lambda wildcards, output: str(Path(output.loss_files[0]).parents[2]),
            kind=KIND,
            n_networks=config["ensemble"]["n_networks"],
            random_state=config["ensemble"]["random_state"],
            extent=config["connectome"]["extent"],
            options=config["ensemble"][KIND],
        script:
            "../../scripts/synthetic_ensemble.py"
