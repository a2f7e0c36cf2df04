#!/usr/bin/env bash
# Snakemake runs this once, inside the freshly created conda environment of the .yaml file
# next to it (--sw-deployment-method conda): it installs flycluster from this checkout
# (editable, without dependencies: the environment file pins them), so that the rule scripts
# import the package like any installed one.
set -euo pipefail
python -m pip install --no-deps -e "$(cd "$(dirname "$0")/.." && pwd)"
