"""The labelling page's web server: a Starlette app over a :class:`LabelSession`, run by uvicorn.

Every URL the page uses is relative (``api/state``, ``frame/3.png``), so it works behind an SSH
tunnel or JupyterHub's ``/user/<name>/proxy/<port>/`` prefix; the page's assets are bundled in
``static/`` (no CDN, no internet). The server binds 127.0.0.1 only.

Routes
------
``GET /`` the page; ``GET static/...`` its script and style;
``GET api/state`` labels, predictions, scores, order, counts, job;
``GET frame/{i}.png`` a frame (log colour scale, mask grey);
``POST api/label`` ``{"index", "label", "tab"}`` (``label`` null removes it);
``POST api/undo`` ``{"tab"}``; ``POST api/retrain``; ``POST api/embedder`` (background);
``GET api/map`` the 2-D embedding map; ``GET api/review`` supports, least sure, confusion;
``GET export/labels.csv``, ``export/labels.json``, ``export/model.skops``.
"""

import json
import socket
import tempfile
from pathlib import Path

from skspeckle.utils._optional import import_optional

__all__ = ["bind", "create_app", "serve", "server"]

STATIC = Path(__file__).parent / "static"
HOST = "127.0.0.1"


def create_app(session):
    """The Starlette application of a labelling session.

    Parameters
    ----------
    session : skspeckle.labelling.LabelSession

    Returns
    -------
    starlette.applications.Starlette
        Errors in a request's input answer 400 (404 for a frame outside the run, 409 for a
        state that does not allow it) with ``{"error": message}``.
    """
    import_optional("starlette", "web", purpose="the labelling page (skspeckle label)")
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def error(status, exc):
        return JSONResponse({"error": str(exc.args[0] if exc.args else exc)}, status_code=status)

    async def body(request):
        try:
            data = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"The request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("The request body must be a JSON object.")
        return data

    def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    def state(request):
        return JSONResponse(session.state())

    def frame(request):
        try:
            png = session.png(int(request.path_params["index"]))
        except IndexError as exc:
            return error(404, exc)
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def label(request):
        try:
            data = await body(request)
            if "index" not in data or "label" not in data:
                raise ValueError('Give {"index": frame index, "label": label or null}.')
            revision = session.label(data["index"], data["label"], str(data.get("tab", "")))
        except IndexError as exc:
            return error(404, exc)
        except (ValueError, TypeError) as exc:
            return error(400, exc)
        return JSONResponse({"revision": revision, "counts": session.store.counts()})

    async def undo(request):
        try:
            data = await body(request)
        except ValueError as exc:
            return error(400, exc)
        index, revision = session.undo(str(data.get("tab", "")))
        return JSONResponse({"index": index, "revision": revision})

    def retrain(request):
        try:
            return JSONResponse(session.retrain())
        except ValueError as exc:
            return error(409, exc)

    def embedder(request):
        try:
            return JSONResponse(session.start_embedder())
        except (ValueError, RuntimeError) as exc:
            return error(409, exc)

    def embedding_map(request):
        return JSONResponse(session.embedding_map())

    def review(request):
        return JSONResponse(session.review())

    def export_labels(request):
        kind = request.path_params["kind"]
        if kind not in ("csv", "json"):
            return error(404, ValueError(f"No labels.{kind}: export labels.csv or labels.json."))
        text = session.store.to_csv() if kind == "csv" else session.store.to_json()
        name = f"{Path(session.store.path).stem}.{kind}"
        return Response(
            text,
            media_type="text/csv" if kind == "csv" else "application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def export_model(request):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = session.save_model(Path(tmp) / "model.skops")
            except RuntimeError as exc:
                return error(409, exc)
            data = Path(path).read_bytes()
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": 'attachment; filename="model.skops"'},
        )

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/frame/{index:int}.png", frame),
        Route("/api/label", label, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/retrain", retrain, methods=["POST"]),
        Route("/api/embedder", embedder, methods=["POST"]),
        Route("/api/map", embedding_map),
        Route("/api/review", review),
        Route("/export/labels.{kind:str}", export_labels),
        Route("/export/model.skops", export_model),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def bind(port=0):
    """A listening socket on 127.0.0.1 (``port=0``: a free port chosen by the system).

    Raises
    ------
    OSError
        If the port is taken.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, int(port)))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"Cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port, or 0 "
            "for a free one."
        ) from None
    sock.listen(64)
    return sock


def server(session, sock):
    """A ``uvicorn.Server`` for the session on a socket from :func:`bind`; call
    ``server.run(sockets=[sock])``, and set ``server.should_exit = True`` to stop it."""
    uvicorn = import_optional("uvicorn", "web", purpose="the labelling page (skspeckle label)")
    config = uvicorn.Config(create_app(session), log_level="warning", lifespan="off")
    return uvicorn.Server(config)


def serve(session, port=0, *, announce=print):
    """Serve the labelling page on 127.0.0.1 until Ctrl-C; ``announce`` gets the URL line.

    Raises
    ------
    OSError
        If the port is taken.
    ImportError
        If the ``web`` extra is not installed.
    """
    sock = bind(port)
    srv = server(session, sock)
    announce(
        f"skspeckle label: {session.n_frames} frames of {session.run.key}, labels in "
        f"{session.store.path}\nOpen http://{HOST}:{sock.getsockname()[1]}/ (through an SSH "
        "tunnel or JupyterHub's proxy the same path works); Ctrl-C stops."
    )
    try:
        srv.run(sockets=[sock])
    finally:
        sock.close()
