"""Train a tiny network twice, with the Triton adjoint and with the native C adjoint: same result?

Two iterations of :func:`flycluster.training.loop.train_flow` (extent 1, batch 2, 6 frames, steady
state of 0.1 s, the activity penalty on, so that its second backward pass through the saved states
runs too) from the same initial network, once per backend. Prints each run's training and
validation losses and, per trainable tensor, the largest difference between the two runs' final
parameters next to the largest change training made. On a machine without a GPU the Triton
kernels run in Triton's interpreter (set here: ``TRITON_INTERPRET=1``), which takes ~5 minutes.

Usage (from the repository root, package importable)::

    python tools/check_triton_training.py            # CPU: Triton's interpreter
    python tools/check_triton_training.py --device cuda
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the Triton run trains")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported
    import numpy as np

    from flycluster.connectome import fetch_connectome, load_connectome
    from flycluster.network import Network
    from flycluster.training import NetworkModule
    from flycluster.training.data import photo_flow_sequences
    from flycluster.training.loop import TrainConfig, train_flow

    connectome = load_connectome(fetch_connectome(), extent=1)
    sequences = photo_flow_sequences(["camera", "coins", "astronaut"], frames_per_movie=8, height=120, width=240,
                                     extent=1, vertical_splits=2, random_state=0)
    config = TrainConfig(iterations=2, batch_size=2, n_frames=6, t_pre_train=0.1, t_pre_val=0.04, checkpoint_every=1,
                         lr_start=1e-3, lr_stop=1e-3, random_state=3, validation_batch=2,
                         augmentation=dict(p_flip=0, p_rot=0, noise_std=0, contrast_std=0, brightness_std=0))
    start = Network.initial(connectome).state_dict()
    final = {}
    for backend, device in (("native", "cpu"), ("triton", args.device)):
        module = NetworkModule(connectome, start, backend=backend).to(device)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            result = train_flow(module, sequences[:2], sequences[2:4], Path(folder) / "000", config)
        print(f"{backend} on {device}: {time.perf_counter() - t0:.1f} s; training loss {result.train_loss.tolist()}, "
              f"validation loss {result.val_loss.tolist()}", flush=True)
        final[backend] = {k: v.detach().cpu().double().numpy() for k, v in module.named_parameters()}
    worst = 0.0
    for key, native in final["native"].items():
        diff = float(np.abs(final["triton"][key] - native).max())
        change = float(np.abs(native - start[key].double().numpy()).max())
        worst = max(worst, diff / change)
        print(f"{key}: largest |triton - native| {diff:.2e}, largest change by training {change:.2e}", flush=True)
    print(f"largest difference relative to the change: {worst:.1e}", flush=True)
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
