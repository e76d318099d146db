"""The TensorFlow backend. Importing this package, before TensorFlow itself, sets the runtime
defaults the backend is tuned for; a value the user already exported wins."""
import os

# oneDNN kernels: conv back-propagation about 3x faster on this CPU (tensorflow-cpu 2.21 leaves
# them off here). Results stay deterministic run to run at a fixed thread count.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
