"""TensorFlow, imported once and quietly: its start-up log lines are hidden unless the user asked for them."""

import os
import sys
import tempfile


def _import_quietly():
    """Import TensorFlow with file descriptor 2 pointed at a temporary file.

    TensorFlow prints oneDNN, CPU-feature and CUDA notices from C++ before its logging is configured, so
    TF_CPP_MIN_LOG_LEVEL alone does not hide them. If the user set TF_CPP_MIN_LOG_LEVEL themselves, nothing
    is hidden. If the import fails, what TensorFlow printed is shown before the error propagates.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import tensorflow

        return tensorflow
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.get_logger().setLevel("ERROR")
            tensorflow.constant(0.0) + 0.0  # device set-up prints its own notices on the first op
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow


tf = _import_quietly()
