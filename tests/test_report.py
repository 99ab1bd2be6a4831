"""skspeckle report: one self-contained HTML page of a results file (figures embedded)."""

import base64
import re

import h5py
import numpy as np
import pytest

from skspeckle.calibration import OperatingPoint
from skspeckle.cli import main
from skspeckle.io.cxi import write_cxi
from skspeckle.report import write_report
from skspeckle.streaming import predict_file

PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def results(tmp_path_factory, small_fitted_pipeline):
    pipe, X, y = small_fitted_pipeline
    directory = tmp_path_factory.mktemp("report")
    run = write_cxi(directory / "run.cxi", X, y)  # labelled, as a simulated run is
    out = directory / "results.h5"
    op = OperatingPoint("single-hit", 0.3, source="--threshold")
    predict_file(pipe, run, out, operating_point=op)
    return out, run, pipe, X, y


def test_report_is_self_contained_and_counts_classes(results, tmp_path, capsys):
    out, run, pipe, X, y = results
    page_path = tmp_path / "report.html"
    assert main(["report", str(out), "-o", str(page_path), "--examples", "2"]) == 0
    assert f"wrote {page_path}" in capsys.readouterr().out
    page = page_path.read_text()
    # No external assets: every image is inline, nothing is fetched.
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page
    images = PNG.findall(page)
    # Probabilities, fractions along the run, confusion matrix, example frames.
    assert len(images) == 4
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    predicted = pipe.predict(X)
    for label in pipe.classes_:
        count = int(np.sum(predicted == label))
        assert f'<td>{label}</td><td class="n">{count}</td>' in page
    with h5py.File(out) as h5:
        accepted = int(h5["skspeckle_results/accepted"][()].sum())
        sha = h5["skspeckle_results"].attrs["model_sha256"]
    assert f"<b>Veto</b>: {accepted} frames" in page and "threshold from --threshold" in page
    assert sha in page and "model_params" in page and str(run) in page
    assert "The 2 most probable frames of each predicted class" in page
    accuracy = np.mean(predicted == y)
    assert f"accuracy {accuracy:.3f} on {len(y)} valid frames" in page
    single = y == "single-hit"
    kept = pipe.predict_proba(X)[:, list(pipe.classes_).index("single-hit")] >= 0.3
    assert kept.any() and f"Veto: precision {np.mean(single[kept]):.3f}" in page
    # An existing report is kept unless --overwrite; nothing else is left behind.
    assert main(["report", str(out), "-o", str(page_path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["report", str(out), "-o", str(page_path), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_report_without_input_frames_or_group(results, tmp_path, capsys):
    out, run, _, _, _ = results
    moved = tmp_path / "results.h5"
    moved.write_bytes(out.read_bytes())
    with h5py.File(moved, "r+") as h5:
        h5["skspeckle_results"].attrs["input_file"] = str(tmp_path / "gone.cxi")
    page = write_report(moved, tmp_path / "r.html").read_text()
    assert "Input frames not available" in page and len(PNG.findall(page)) == 2
    assert main(["report", str(moved), "-o", str(tmp_path / "x.html"), "--group", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no results group 'nope'" in err and "Traceback" not in err
    assert not (tmp_path / "x.html").exists()
