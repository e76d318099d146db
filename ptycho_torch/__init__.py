"""PyTorch/Lightning backend of the ptychography package.

POLICY-001: torch is mandatory for this backend. Importing the package where torch cannot be
imported fails loudly with install guidance; there is never a silent fallback to TensorFlow.
The package import stays light: only torch itself, no Lightning, no submodules.
"""

import os

# torch's CPU kernels run on GNU OpenMP, whose idle threads spin by default: on a small shared
# machine (2 cores, other jobs) the spinning thread starves the working one, and a training
# step measured 3-4x slower than with passive waiting. Read once, when torch loads its OpenMP
# runtime, so it must be set before the import; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch  # noqa: F401  (the import is the check)
except (ImportError, OSError) as exc:  # OSError: a torch install with broken shared libraries
    from ptycho.errors import torch_unavailable
    raise torch_unavailable(exc) from exc
