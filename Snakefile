# flycluster: simulate an ensemble of fly visual system models, then embed (UMAP) and
# cluster (Gaussian mixtures, BIC) the networks per cell type. See README.md "## The workflow".
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# --configfile replaces the embedded default instead of being merged into it, so that a
# small config does not inherit stimulus sets or cell types from config/config.yaml.
# Without it: config/config.yaml of the working directory, else the repository's.
DEFAULT_CONFIG = (
    "config/config.yaml"
    if Path("config/config.yaml").is_file()
    else str(Path(workflow.basedir) / "config" / "config.yaml")
)
if not workflow.overwrite_configfiles:

    configfile: DEFAULT_CONFIG


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/connectome.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/stimuli.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
