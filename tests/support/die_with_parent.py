"""Imported first by the test servers that python_server.hpp starts: the
kernel kills such a server when the test process that started it dies, even
by SIGKILL (ctest's timeout), so a hung test leaves no server behind.

PR_SET_PDEATHSIG follows the thread that spawned the child; the tests start
their servers from the thread that runs the test case, which lives as long
as the process."""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
    sys.exit(f"prctl(PR_SET_PDEATHSIG): {os.strerror(ctypes.get_errno())}")
if os.getppid() == 1:  # the test was already gone before the signal was set
    sys.exit(0)
