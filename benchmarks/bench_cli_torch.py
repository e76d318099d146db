"""Speed target of the PyTorch path through the real CLIs, start-up included:

    ptycho-train --backend pytorch --nepochs 2 --n-groups 512 (512 patterns of 64x64)
    + ptycho-infer on the same scan

TARGET: median total <= 20 s wall on the 2-core CPU machine, and within 1.3x of the
TensorFlow path on the same work (timed interleaved in the same invocation; --only skips it).
Also reports phase/amplitude SSIM vs objectGuess from metrics.json ("it learns").

    python benchmarks/bench_cli_torch.py [--runs 3] [--only]

Writes benchmarks/results/cli_torch.json; exits 1 when a target is missed.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli_timing import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("cli_torch", ["pytorch", "tensorflow"], target_s=20.0, max_ratio=1.3))
