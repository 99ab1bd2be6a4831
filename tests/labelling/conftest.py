"""A simulated CXI run for the labelling tests, and a live server for the browser test."""

import threading
import time

import pytest

from skspeckle.io import write_cxi


@pytest.fixture
def cxi_run(three_class_patterns, tmp_path):
    """90 simulated frames (48 x 48, three classes) in a CXI file; returns (path, y)."""
    X, y, _ = three_class_patterns
    return write_cxi(tmp_path / "run.cxi", X, y=y), y


@pytest.fixture
def live_server():
    """``start(session) -> url``: serve a session on 127.0.0.1 on a free port, in a thread;
    stopped (and bounded to 60 s of waiting) at the end of the test."""
    from skspeckle.labelling.app import bind, server

    running = []

    def start(session):
        sock = bind(0)
        srv = server(session, sock)
        thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.started, "the server did not start within 20 s"
        running.append((srv, thread, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"

    yield start
    for srv, thread, sock in running:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
