"""Quiet start-up: after `import gradlab`, importing TensorFlow (directly or through Keras) prints nothing."""

import subprocess
import sys

import pytest

FIRST_OP = "tf.constant(1.0) + 1.0"
#: tf.config's logical devices (and memory growth) must be set before TensorFlow sets its devices up: importing
#: gradlab and TensorFlow must not do that early (and the set-up's own notices stay hidden).
CONFIGURE = ("cpu = tf.config.list_physical_devices('CPU')[0]\n"
             "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)")
CONFIGURED = "assert len(tf.config.list_logical_devices('CPU')) == 2"


def stderr_of(code, env):
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("level", [None, "2", "3"], ids=["unset", "level-2", "level-3"])
def test_tensorflow_and_keras_imported_after_gradlab_print_nothing(level, user_env):
    if level is not None:
        user_env["TF_CPP_MIN_LOG_LEVEL"] = level
    code = f"import gradlab\nimport keras\nimport tensorflow as tf\n{CONFIGURE}\n{FIRST_OP}\nimport sys\n" \
           f"assert 'tensorflow' in sys.modules\n{CONFIGURED}"
    assert stderr_of(code, user_env) == []


def test_a_user_who_asks_for_the_lines_gets_all_of_them(user_env):
    """TF_CPP_MIN_LOG_LEVEL=0 means "show me": as many lines as TensorFlow prints without gradlab."""
    user_env["TF_CPP_MIN_LOG_LEVEL"] = "0"
    plain = stderr_of(f"import tensorflow as tf\n{FIRST_OP}", user_env)
    after_gradlab = stderr_of(f"import gradlab\nimport tensorflow as tf\n{FIRST_OP}", user_env)
    assert len(after_gradlab) == len(plain)


def test_import_gradlab_does_not_import_tensorflow(user_env):
    code = "import sys, gradlab\nassert 'tensorflow' not in sys.modules, 'imported'\nprint(gradlab.__version__)"
    assert stderr_of(code, user_env) == []

