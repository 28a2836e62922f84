"""Preload of the local Dask workers (``LocalCluster(preload=[...])``).

A Ctrl-C in a terminal reaches every process of the foreground group. The workers ignore it:
the main process stops the cohort and closes the cluster, so a Ctrl-C ends the run with one
message instead of a traceback per worker.
"""

import signal
import threading


def dask_setup(worker):
    """Make the worker process ignore SIGINT (called by Dask when the worker starts)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
