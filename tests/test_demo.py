"""The main job runs end to end (quick mode: the numbers are not meaningful, the path is)."""

import numpy as np

from skspeckle.cli import main
from skspeckle.demo import format_table, run_demo


def test_quick_demo_rows(monkeypatch, amplitude_cache):
    monkeypatch.setenv("SKSPECKLE_CACHE_DIR", str(amplitude_cache))
    rows = run_demo(quick=True, device="cpu", verbose=0)
    assert [r["detector_area"] for r in rows] == [1.0, 0.25, 1.0, 1.0, 1.0]
    assert rows[0]["scenario"].startswith("online") and rows[2]["scenario"].startswith("offline")
    # The pretrained embedder, untrained here, on the offline scenario's frames, then on the
    # same particle's pnCCD frames read at its q scale (4v4r: 2.2).
    assert rows[3]["scenario"].startswith("pretrained") and rows[3]["n_test"] == rows[2]["n_test"]
    assert "pnCCD at q_scale 2.2" in rows[4]["scenario"]
    assert rows[4]["n_test"] == rows[2]["n_test"]
    for r in rows:
        for key in ("accuracy", "f1_macro", "f1_single_hit"):
            assert 0.0 <= r[key] <= 1.0
        assert r["accuracy_sd"] >= 0 and r["n_test"] > 0
    table = format_table(rows)
    assert table.count("\n") == len(rows) + 2 and "25%" in table


def test_cli_demo_prints_table(monkeypatch, amplitude_cache, capsys):
    monkeypatch.setenv("SKSPECKLE_CACHE_DIR", str(amplitude_cache))
    assert main(["demo", "--quick", "--device", "cpu", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "online 3-way 5-shot" in out and "offline 2-way 5-shot" in out and "wall time" in out
    assert "pretrained, no training" in out
    values = [
        float(v)
        for line in out.splitlines()
        if line.startswith(("online", "offline", "pretrained"))
        for v in line.split()[-5::4]
    ]
    assert np.all((np.array(values) >= 0) & (np.array(values) <= 1))
