rule simulate:
    input:
        stimulus="resources/stimuli/{stimulus_set}.nc",
        connectome=CONNECTOME,
        loss=network_loss_file,
    output:
        "results/{ensemble}/responses/{stimulus_set}/{network}.nc",
    params:
        network_dir=network_dir,
        loss_name=LOSS_NAME,
        extent=config["connectome"]["extent"],
        device=config["simulate"]["device"],
        batch_size=config["simulate"]["batch_size"],
    log:
        "results/{ensemble}/logs/simulate/{stimulus_set}/{network}.log",
    benchmark:
        "results/{ensemble}/benchmarks/simulate/{stimulus_set}/{network}.tsv"
    threads: config["simulate"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
        mem_mb=config["simulate"]["mem_mb"],
        runtime=config["simulate"]["runtime"],
    conda:
        "../../envs/simulate.yaml"
    script:
        "../../scripts/simulate.py"


rule norms:
    input:
        response_files(NATURALISTIC),
    output:
        "results/{ensemble}/norms.nc",
    log:
        "results/{ensemble}/logs/norms.log",
    benchmark:
        "results/{ensemble}/benchmarks/norms.tsv"
    threads: 1
    conda:
        "../../envs/cluster.yaml"
    script:
        "../../scripts/norms.py"
