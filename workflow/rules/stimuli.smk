# A `file` set (the user's movie) has that file as input: a changed movie rebuilds the set.
rule stimulus_set:
    input:
        user_file,
    output:
        "resources/stimuli/{stimulus_set}.nc",
    log:
        "logs/stimuli/{stimulus_set}.log",
    benchmark:
        "logs/stimuli/{stimulus_set}.benchmark.tsv"
    conda:
        "../../envs/stimuli.yaml"
    threads: 1
    resources:
        **job_resources(stimulus_estimate),
    params:
        spec=lambda wildcards: config["stimuli"][wildcards.stimulus_set],
        random_state=config["analysis"]["random_state"],
        extent=config["connectome"]["extent"],
    script:
        "../../scripts/stimulus_set.py"
