"""Suite-wide setup: offscreen Qt, isolated settings and recovery folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep torch from oversubscribing the 2-core CI machine when both lanes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")
