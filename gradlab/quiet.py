"""Quiet start-up: once gradlab is imported, TensorFlow's start-up log lines stay hidden, whoever imports it.

TensorFlow prints oneDNN, CPU-feature and CUDA notices from C++ while it is imported and when it runs its first
op, before its own logging is configured, so TF_CPP_MIN_LOG_LEVEL alone does not hide them all. `import
gradlab` (which does not import TensorFlow) installs an import hook: the first `import tensorflow` after it,
yours or Keras', runs with file descriptor 2 pointed at a temporary file, and so does TensorFlow's device set-up
when its first op runs (not before: tf.config can still set logical devices and memory growth).
A TF_CPP_MIN_LOG_LEVEL of 0 or 1 set by the user means "show me", and nothing is hidden; 2 or 3 (or unset)
hides them. If the import fails, what TensorFlow printed is shown before the error propagates.
"""

import importlib.abc
import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager

#: Levels of TF_CPP_MIN_LOG_LEVEL under which the user asked to see TensorFlow's INFO and WARNING lines.
SHOWN_LEVELS = ("0", "1")


def wanted():
    """Whether the user asked to see TensorFlow's start-up lines (TF_CPP_MIN_LOG_LEVEL of 0 or 1)."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() in SHOWN_LEVELS


@contextmanager
def hidden_stderr():
    """File descriptor 2 (where C++ writes) pointed at a temporary file; shown again if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _Loader(importlib.abc.Loader):
    """TensorFlow's own loader, run with stderr hidden, then its first op."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):  # get_source, get_resource_reader...: the wrapped loader's own
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with hidden_stderr():
            self.loader.exec_module(module)
            module.get_logger().setLevel("ERROR")
        _quiet_device_setup()


def _quiet_device_setup():
    """TensorFlow finds its devices (tf.config.list_physical_devices, or the first op) and sets them up (the first
    op), printing its own notices, after the import: so that tf.config can still set logical devices or memory
    growth, neither is done early; each runs once with stderr hidden."""
    try:
        from tensorflow.python.eager import context
    except ImportError:  # a TensorFlow without this module: its notices are shown, nothing breaks
        return
    for name, done in (("_initialize_physical_devices", "_physical_devices"), ("ensure_initialized", "_initialized")):
        _once_hidden(context.Context, name, done)


def _once_hidden(cls, name, done):
    """cls.name's first call that does the work (`done` not yet set on the object) runs with stderr hidden;
    after it, cls.name is TensorFlow's own again."""
    original = getattr(cls, name, None)
    if original is None:
        return

    def quiet(self, *args, **kwargs):
        if getattr(self, done, None):
            return original(self, *args, **kwargs)
        setattr(cls, name, original)
        with hidden_stderr():
            return original(self, *args, **kwargs)

    setattr(cls, name, quiet)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, through the other finders, and gives it the quiet loader."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        if wanted():
            return None
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


_FINDER = _Finder()


def install():
    """Hide TensorFlow's start-up lines when it is imported next (nothing to do if it already is)."""
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall():
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
