rule stimulus_set:
    output:
        "resources/stimuli/{stimulus_set}.nc",
    params:
        spec=lambda wildcards: config["stimuli"][wildcards.stimulus_set],
        random_state=config["analysis"]["random_state"],
        extent=config["connectome"]["extent"],
    log:
        "resources/logs/stimuli/{stimulus_set}.log",
    benchmark:
        "resources/benchmarks/stimuli/{stimulus_set}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/stimuli.yaml"
    script:
        "../../scripts/stimulus_set.py"
