if TRAINED_ENSEMBLE:
    TRAINING = config["ensemble"]["training"]
    TRAINING_RUN_KEYS = ("device", "threads", "mem_mb", "runtime", "log_every")

    # One job per network: train on the optic-flow task and publish a flyvis network folder
    # at connectome.extent. Checkpoints are written to TRAINING_DIR/{network} (not an
    # output: a failed or killed job leaves it, and the rerun resumes from its last
    # checkpoint); the declared outputs appear only when training has finished, by an
    # atomic rename of the complete folder (flycluster.training.ensemble.publish).
    rule train:
        input:
            connectome=CONNECTOME,
            decoder_from=TRAINING["decoder_from"] or [],  # a trained decoder to start from
        output:
            checkpoint=f"{ENSEMBLE_DIR}/{{network}}/{layout.BEST_CHECKPOINT}",
            loss=f"{ENSEMBLE_DIR}/{{network}}/validation/loss.h5",
        log:
            f"logs/{ENSEMBLE}/train/{{network}}.log",
        benchmark:
            f"logs/{ENSEMBLE}/train/{{network}}.benchmark.tsv"
        conda:
            "../../envs/simulate.yaml"
        threads: TRAINING["threads"]
        resources:
            gpu=1 if TRAINING["device"] == "cuda" else 0,
            mem_mb=TRAINING["mem_mb"],
            runtime=TRAINING["runtime"],
        params:
            work=lambda wildcards: f"{TRAINING_DIR}/{wildcards.network}",
            dest=lambda wildcards, output: str(Path(output.checkpoint).parent),
            index=lambda wildcards: int(wildcards.network),
            seed=config["ensemble"]["random_state"],
            # what is trained; device, threads, resources and log_every are read from the
            # config by the script, so changing them does not retrain (params trigger reruns)
            options={k: v for k, v in TRAINING.items() if k not in TRAINING_RUN_KEYS},
            extent=config["connectome"]["extent"],
        script:
            "../../scripts/train.py"
