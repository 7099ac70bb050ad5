"""What this TensorFlow build gets wrong, and gradlab's own internals kept quiet.

TensorFlow 2.20-2.22's CPU build with oneDNN computes float32 batch matmuls whose operands differ in rank or
broadcast their batch dimensions, such as [8,1,3,3] @ [3,3], wrongly: it pads the smaller operand's batch
dimensions with wrong strides and reads past its buffer (tensorflow#117700, #123109), which gives values of
1e28 in one run and a segmentation fault in the next. oneDNN is on where TensorFlow finds AVX-512 VNNI, BF16
or AMX on the CPU, or where TF_ENABLE_ONEDNN_OPTS=1; TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow is imported
turns it off. pfor (tf.vectorized_map, tape.jacobian) turns a batch matmul or einsum of f into exactly such a
product with one more batch dimension, so where oneDNN is on, gradlab evaluates float32 functions that use
them with a traced loop and computes their Jacobians without pfor, which keeps every product in the shapes f
wrote. A crash cannot be caught in-process, so the decision is made from f's traced graph before anything
runs. (Plain rank-2 matmuls, as in Dense layers, stay rank-2 under pfor and are vectorized as usual.)
"""

import logging
import os
import warnings
from contextlib import contextmanager

from gradlab._tf import tf

#: Operations that pfor rewrites into batch matmuls of mixed rank.
MATMUL_OPS = frozenset({"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"})
#: CPU features for which TensorFlow turns oneDNN on by default (tensorflow/core/util/util.cc).
ONEDNN_CPU_FLAGS = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"})
WORKAROUND = "TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow is imported avoids it"


def onednn_float32_matmul_broken():
    """Whether float32 batch matmuls run through oneDNN on the CPU here, where they are broken."""
    if tf.config.list_logical_devices("GPU"):
        return False
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # the private switch moved: TensorFlow's own rule, from the outside
        setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
        if setting in ("0", "false"):
            return False
        return setting in ("1", "true") or bool(_cpu_flags() & ONEDNN_CPU_FLAGS)


def _cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return {flag for line in info if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return set()


def op_types(f, values):
    """The operation types in f's traced graph at tensors like `values` (nested functions included)."""
    specs = [tf.TensorSpec(v.shape, v.dtype) for v in values]
    with quiet_internals():
        graph = tf.function(lambda *args: f(*args)).get_concrete_function(*specs).graph
    found = set()
    graphs = [graph]
    while graphs:
        g = graphs.pop()
        found.update(op.type for op in g.get_operations())
        graphs += [fn.graph for fn in getattr(g, "_functions", {}).values() if hasattr(fn, "graph")]
    return found


def unsafe_to_vectorize(f, point):
    """Why f must not be vectorized with pfor on this build ("" if it may be)."""
    if "float32" not in point.dtypes or not onednn_float32_matmul_broken():
        return ""
    try:
        risky = sorted(op_types(f, [] if point.variables else point.values) & MATMUL_OPS)
    except Exception:  # noqa: BLE001 - f cannot be traced; it will be called one point at a time anyway
        return ""
    if not risky:
        return ""
    return (f"f has float32 {', '.join(risky)} and this CPU build's oneDNN computes vectorized (broadcast) "
            f"float32 batch matmuls wrongly or crashes ({WORKAROUND})")


@contextmanager
def quiet_internals():
    """TensorFlow's warnings and ERROR lines from gradlab's own tracing and vectorizing kept from the console
    (retracing notices, pfor's fallbacks); the user's logging settings are put back afterwards."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
