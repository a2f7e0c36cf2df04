"""The same config gives the same numbers: two runs in separate folders are identical.

Compared for every result file of the tiny planted config (tests/workflow_configs/planted_tiny.yaml):
response files, norms, the summary table, and each clustering file's labels, mask, BIC,
mixture parameters, stability scores and embedding - all bitwise (tolerance 0): every random
choice (synthetic ensemble, stimulus crops, UMAP, GMM, stability repeats) takes its seed from
the config, and UMAP with a random_state runs single-threaded.
"""

from __future__ import annotations

import trust_runner as tr


def test_rerun_in_another_folder_is_bitwise_identical(tmp_path_factory, tmp_path):
    reference = tr.reference_run(tmp_path_factory)
    rc, log = tr.run(tr.local_cmd(tmp_path / "work"), tmp_path / "run.log", timeout=tr.RUN_TIMEOUT)
    assert rc == 0, log[-4000:]
    n_files = tr.compare_runs(reference, tmp_path / "work", embedding_atol=0.0)
    assert n_files >= 10
