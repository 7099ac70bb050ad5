"""Putting tf.Variables back: every perturbed variable restored bit for bit, whatever interrupts the check.

Variables are claimed by one check at a time (another thread waits its turn; the same thread checking a
variable it is already checking is refused), and restored with Ctrl-C held back until every value is back.
"""

import signal
import threading
from contextlib import contextmanager

import numpy as np

from gradlab.errors import GradlabError

_claims = threading.Condition()
_holders = {}  # id of a tf.Variable -> the thread checking it


@contextmanager
def claimed(variables, names):
    """Hold `variables` for this thread for the duration of a check."""
    me = threading.get_ident()
    keys = [id(v) for v in variables]
    with _claims:
        for key, name in zip(keys, names):
            if _holders.get(key) == me:
                raise GradlabError(f"{name} is already being checked by this thread (a check inside f?); "
                                   "f must not start another check of the same variable")
        _claims.wait_for(lambda: not any(key in _holders for key in keys))
        for key in keys:
            _holders[key] = me
    try:
        yield
    finally:
        with _claims:
            for key in keys:
                _holders.pop(key, None)
            _claims.notify_all()


@contextmanager
def restoring(variables, saved):
    """Run the block, then assign each variable its saved tensor again, however the block ends."""
    try:
        yield
    finally:
        restore(variables, saved)


def restore(variables, saved):
    """Assign the saved values until every variable holds them bit for bit. A KeyboardInterrupt that arrives
    meanwhile is held back and raised once everything is restored."""
    interrupted = None
    while True:
        try:
            with _interrupts_held():
                for _ in range(3):
                    for variable, value in zip(variables, saved):
                        variable.assign(value)
                    if all(_same_bits(v, s) for v, s in zip(variables, saved)):
                        break
                else:
                    raise GradlabError("a tf.Variable did not take back its saved value bit for bit; something "
                                       "else is writing to it during the check")
            break
        except KeyboardInterrupt as exc:  # arrived before the signal was held: restore again
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _same_bits(variable, value):
    a, b = np.asarray(variable.numpy()), np.asarray(value.numpy())
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@contextmanager
def _interrupts_held():
    """SIGINT blocked (or, where the platform cannot block it, recorded) while the block runs; a pending one is
    delivered after it."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python delivers signals to the main thread only
        return
    if hasattr(signal, "pthread_sigmask"):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return
    caught = []
    handler = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        if caught:
            raise KeyboardInterrupt
