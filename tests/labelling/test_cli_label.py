"""``skspeckle label`` as a user runs it: a process that prints its URL, serves, stops on Ctrl-C."""

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from skspeckle.cli import main

pytest.importorskip("uvicorn")


def _start(tmp_path, *extra):
    cmd = [sys.executable, "-m", "skspeckle", "label", "pr772", "--port", "0", *extra]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for _ in range(20):  # the announcement is the second line; bounded in lines
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match or not line:
            break
    assert match, proc.stderr.read() if proc.poll() is not None else "no URL printed"
    return proc, match.group(0)


def test_label_serves_the_bundled_frames_and_a_second_session_is_refused(tmp_path):
    proc, url = _start(tmp_path)
    try:
        with urllib.request.urlopen(url + "api/state", timeout=30) as response:
            state = json.load(response)
        assert state["run"] == "pr772" and state["n_frames"] == 10
        request = urllib.request.Request(
            url + "api/label",
            data=json.dumps({"index": 2, "label": "multi-hit"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()
        assert "pr772,2,multi-hit,multi" in (tmp_path / "pr772.labels.csv").read_text()
        # The same labels file from a second process: refused, with the way out.
        second = subprocess.run(
            [sys.executable, "-m", "skspeckle", "label", "pr772", "--port", "0"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "another labelling session" in second.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "labels saved in pr772.labels.csv" in out


def test_label_reports_a_missing_run(tmp_path, capsys):
    assert main(["label", str(tmp_path / "missing.cxi"), "--port", "0"]) == 1
    assert "missing.cxi" in capsys.readouterr().err
