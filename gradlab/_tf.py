"""TensorFlow for gradlab's own modules, imported through gradlab.quiet (its start-up lines stay hidden)."""

import gradlab  # noqa: F401  (installs the quiet import of TensorFlow)
import tensorflow as tf  # noqa: E402

__all__ = ["tf"]
