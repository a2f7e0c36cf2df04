rule simulate:
    input:
        stimulus="resources/stimuli/{stimulus_set}.nc",
        connectome=CONNECTOME,
        checkpoint=network_checkpoint,
        loss=network_loss_file,
    output:
        "results/{ensemble}/responses/{stimulus_set}/{network}.nc",
    log:
        "logs/{ensemble}/simulate/{stimulus_set}/{network}.log",
    benchmark:
        "logs/{ensemble}/simulate/{stimulus_set}/{network}.benchmark.tsv"
    conda:
        "../../envs/simulate.yaml"
    threads: config["simulate"]["threads"]
    resources:
        **job_resources(simulate_estimate, "simulate"),
        gpu=1 if USE_GPU else 0,
    params:
        network_dir=network_dir,
        loss_name=LOSS_NAME,
        extent=config["connectome"]["extent"],
        device=config["simulate"]["device"],
        batch_size=config["simulate"]["batch_size"],
    script:
        "../../scripts/simulate.py"


rule norms:
    input:
        response_files(NATURALISTIC),
    output:
        "results/{ensemble}/norms.nc",
    log:
        "logs/{ensemble}/norms.log",
    benchmark:
        "logs/{ensemble}/norms.benchmark.tsv"
    conda:
        "../../envs/cluster.yaml"
    threads: 1
    resources:
        **job_resources(responses_estimate),
    script:
        "../../scripts/norms.py"
