"""Speed target of the TensorFlow path through the real CLIs, start-up included:

    ptycho-train --backend tensorflow --nepochs 2 --n-groups 512 (512 patterns of 64x64,
    CLI defaults otherwise: n_filters_scale, batch size, learning rate)
    + ptycho-infer on the same scan

TARGET: median total <= 20 s wall on the 2-core CPU machine. Also reports phase/amplitude SSIM
vs objectGuess from metrics.json ("it learns"; compare --nepochs runs).

    python benchmarks/bench_cli_tf.py [--runs 3] [--nepochs 2]

Writes benchmarks/results/cli_tf.json; exits 1 when the target is missed.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli_timing import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("cli_tf", ["tensorflow"], target_s=20.0))
