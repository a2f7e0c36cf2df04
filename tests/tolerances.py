"""Tolerances for comparing our numbers with fixtures that flyvis computed on another CPU.

Labels, k, masks and NaN patterns are compared exactly everywhere. Floating-point results of
UMAP and the Gaussian mixtures depend on the CPU (numba's target, numpy's SIMD loops, OpenBLAS'
kernels; docs/reproducibility.md). Each tolerance below sits between two measurements
(tools/measure_portability.py and the bug table in docs/reproducibility.md, on the flyvis
fixture ``tests/fixtures/clustering/umap_gmm.npz``):

=================  =======================  ==================  ================================
quantity           largest cross-CPU diff   tolerance           smallest plausible bug
=================  =======================  ==================  ================================
embedding ([0,1])  6.6e-5 (AVX-512 host)    1e-3 absolute       0.067 (min_dist 0.1 for 0.105);
                                                                7.4e-4 (n_epochs 1499: caught
                                                                by the BIC below)
BIC                1.9e-5 relative          1e-3 relative       7.0e-3 (GMM random_state 43)
mixture means      5.1e-5                   1e-3 absolute       5.2e-4 (n_epochs 1499) .. 0.42
covariances        1.0e-7 (max entry 3e-3)  1e-5 absolute       see BIC (reg_covar 1e-5: 0.13)
=================  =======================  ==================  ================================
"""

EMBEDDING_ATOL = 1e-3
BIC_RTOL = 1e-3
MEANS_ATOL = 1e-3
COVARIANCES_ATOL = 1e-5
