# flycluster: simulate an ensemble of fly visual system models, then embed (UMAP) and
# cluster (Gaussian mixtures, BIC) the networks per cell type. See README.md and
# config/README.md.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The default configuration: config/config.yaml of the working directory if there is one,
# else this workflow's. Files given with --configfile are merged into it, key by key, as
# snakemake documents (--replace-workflow-config discards it instead). When the workflow is
# used as a module with `config:`, snakemake skips this line and the module's config is used.
DEFAULT_CONFIG = (
    "config/config.yaml"
    if Path("config/config.yaml").is_file()
    else str(Path(workflow.basedir) / "config" / "config.yaml")
)


configfile: DEFAULT_CONFIG


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/connectome.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/stimuli.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/indices.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
