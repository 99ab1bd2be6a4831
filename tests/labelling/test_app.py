"""The labelling server at the HTTP level (Starlette's TestClient) and the session behind it."""

import csv
import io
import time

import numpy as np
import pytest

from skspeckle.labelling import LabelSession, create_app, frame_png

testclient = pytest.importorskip("starlette.testclient")


@pytest.fixture
def client(cxi_run, tmp_path):
    run, y = cxi_run
    session = LabelSession(
        run, tmp_path / "labels.csv", embedder_params={"max_epochs": 1, "validation_fraction": 0}
    )
    with testclient.TestClient(create_app(session)) as c:
        yield c, session, y
    session.close()


def test_page_and_assets_use_relative_urls_only(client):
    c, _, _ = client
    page = c.get("/").text
    assert 'href="static/style.css"' in page and 'src="static/app.js"' in page
    assert "http://" not in page and "https://" not in page and 'src="/' not in page
    script = c.get("/static/app.js").text
    assert "fetch(path" in script and "http" not in script.replace("httpx", "")


def test_frames_are_pngs_of_the_detector_size(client):
    from PIL import Image

    c, session, _ = client
    response = c.get("/frame/5.png")
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (48, 48)  # W x H
    assert c.get("/frame/90.png").status_code == 404


def test_frame_png_draws_the_mask_and_bad_pixels_grey():
    from PIL import Image

    frame = np.arange(12.0).reshape(3, 4)
    frame[0, 0] = np.inf
    mask = np.ones((3, 4), dtype=bool)
    mask[2, 3] = False
    rgb = np.asarray(Image.open(io.BytesIO(frame_png(frame, mask))))
    assert rgb.shape == (3, 4, 3)
    assert tuple(rgb[0, 0]) == tuple(rgb[2, 3]) == (110, 110, 110)
    assert tuple(rgb[1, 1]) != (110, 110, 110)


def test_label_retrain_review_and_export(client, tmp_path):
    c, session, y = client
    state = c.get("/api/state").json()
    assert state["predictions"] is None and state["n_frames"] == len(y)
    first = state["order"][:15]  # diversity alone: nothing labelled yet
    for i in first:
        assert c.post("/api/label", json={"index": i, "label": str(y[i]), "tab": "t"}).is_success
    # The first single hit in run order too, so that three classes are labelled.
    single = int(np.flatnonzero(y == "single-hit")[0])
    c.post("/api/label", json={"index": single, "label": "single-hit", "tab": "t"})
    rows = list(csv.DictReader(io.StringIO(c.get("/export/labels.csv").text)))
    assert len(rows) == len(set(first) | {single})
    retrained = c.post("/api/retrain").json()
    assert retrained["n_supports"] == len(rows) and len(retrained["classes"]) >= 2
    state = c.get("/api/state").json()
    assert len(state["predictions"]) == len(y) and set(state["order"]).isdisjoint(first)
    # Even the PCA stand-in (no trained embedder) beats chance (1/3) clearly: 0.59 measured.
    assert np.mean(np.array(state["predictions"]) == y) > 0.5
    review = c.get("/api/review").json()
    assert len(review["least_sure"]) == 24 and not set(review["least_sure"]) & set(first)
    confusion = review["confusion"]
    assert np.sum(confusion["matrix"]) <= len(rows)
    embedding_map = c.get("/api/map").json()
    assert embedding_map["method"] == "pca" and len(embedding_map["x"]) == len(y)
    labels = c.get("/export/labels.json").json()
    assert {r["reference_code"] for r in labels["labels"]} <= {"single", "multi", "non-sample"}
    # No model before an embedder is trained: a clear refusal, not an empty file.
    assert c.get("/export/model.skops").status_code == 409


def test_background_embedder_then_model_export(client, tmp_path):
    from skspeckle.persistence import load_model

    c, session, y = client
    for i in range(0, len(y), 6):  # 15 frames, 5 of each class
        c.post("/api/label", json={"index": i, "label": str(y[i])})
    job = c.post("/api/embedder").json()
    assert job["state"] == "running"
    assert c.post("/api/embedder").status_code == 409  # one at a time
    deadline = time.monotonic() + 120
    while c.get("/api/state").json()["job"]["state"] == "running":
        assert time.monotonic() < deadline, "the embedder did not finish within 120 s"
        time.sleep(0.2)
    state = c.get("/api/state").json()
    assert state["job"]["state"] == "done", state["job"]
    assert state["job"]["epoch"] >= 1 and state["model"] == "trained"
    assert state["embedding"] == "model" and state["predictions"] is not None
    path = tmp_path / "exported.skops"
    path.write_bytes(c.get("/export/model.skops").content)
    model = load_model(path)
    np.testing.assert_array_equal(
        model.predict(session.run.frames(np.arange(len(y)))), session.predictions
    )


def test_bad_requests_get_clear_errors(client):
    c, _, _ = client
    assert "Unknown label" in c.post("/api/label", json={"index": 0, "label": "x"}).json()["error"]
    assert c.post("/api/label", json={"index": 999, "label": "no-hit"}).status_code == 404
    assert c.post("/api/label", content=b"not json").status_code == 400
    assert c.post("/api/label", json={"index": 0}).status_code == 400
    assert "two classes" in c.post("/api/retrain").json()["error"]
    assert c.post("/api/embedder").status_code == 409
    assert c.post("/api/undo", json={"tab": "nobody"}).json()["index"] is None
    assert c.get("/export/labels.xml").status_code == 404


def test_two_tabs_keep_each_others_labels(client, tmp_path):
    c, session, _ = client
    c.post("/api/label", json={"index": 1, "label": "no-hit", "tab": "left"})
    c.post("/api/label", json={"index": 2, "label": "multi-hit", "tab": "right"})
    c.post("/api/label", json={"index": 3, "label": "unknown", "tab": "left"})
    assert c.post("/api/undo", json={"tab": "right"}).json()["index"] == 2
    labels = c.get("/api/state").json()["labels"]
    assert labels[1:4] == ["no-hit", None, "unknown"]
    rows = list(csv.DictReader(session.store.path.open()))
    assert [(r["frame_index"], r["label"]) for r in rows] == [("1", "no-hit"), ("3", "unknown")]


def test_a_model_must_be_a_few_shot_pipeline(cxi_run, tmp_path):
    from sklearn.decomposition import PCA

    run, _ = cxi_run
    with pytest.raises(TypeError, match="FewShotCentroidClassifier"):
        LabelSession(run, tmp_path / "l.csv", model=PCA())
