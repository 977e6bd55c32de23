"""`cinelibre serve`: the three functions' routes on one app, so one local server answers every path the
three Function URLs answer in AWS, plus the web app (`web/`) at `/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from cinelibre.api import auth, catalog, recommend, search
from cinelibre.api.app import build_app, readiness_response
from cinelibre.api.dependencies import SettingsDep
from cinelibre.db import get_database
from cinelibre.settings import SOURCE_ROOT, Settings, get_settings

NAME = "cinelibre"
WEB_DIR = SOURCE_ROOT / "web"
# The app's files change while someone works on them: the browser revalidates (ETag) instead of guessing.
_REVALIDATE = {"Cache-Control": "no-cache"}
# The policy CloudFront sends in production (template.yaml), with the API on this same origin.
_PAGE_HEADERS = _REVALIDATE | {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' https: data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}


class _RevalidatingFiles(StaticFiles):
    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(_REVALIDATE)
        return response


def _wants_html(request: Request) -> bool:
    """A browser asks for a page; probes, curl and the tests ask for anything and get the readiness JSON."""
    return "text/html" in request.headers.get("accept", "")


def create_local_app(settings: Settings | None = None, *, web_dir: Path | None = WEB_DIR) -> FastAPI:
    settings = settings or get_settings()
    app = build_app(
        name=NAME,
        settings=settings,
        routers=[auth.router, search.router, catalog.router, *recommend.ROUTERS],
        needs_tokens=True,
        description="CineLibre: every route of the auth, search and recommend functions on one server, "
        "and the web app at / for browsers.",
    )
    auth.install_account_services(app, settings)
    web_root = web_dir if web_dir is not None and (web_dir / "index.html").is_file() else None

    @app.get("/", tags=["health"], response_model=None)
    def root(request: Request, settings: SettingsDep) -> Response:
        """The web app for a browser (Accept: text/html); name, version and readiness for anything else."""
        if web_root is not None and _wants_html(request):
            # Served without touching the database, so a stopped database still gets a page that says so.
            return FileResponse(web_root / "index.html", headers=_PAGE_HEADERS)
        database = get_database(settings)
        return readiness_response(
            NAME, {"database": database.health, "model": lambda: search.model_readiness(settings)}
        )

    if web_root is not None:
        # Only the app's own folders and file: every other path stays the API's, with its JSON 404.
        app.mount("/assets", _RevalidatingFiles(directory=web_root / "assets"), name="web-assets")
        app.mount("/fonts", _RevalidatingFiles(directory=web_root / "fonts"), name="web-fonts")
        config_file = web_root / "config.json"

        @app.get("/config.json", include_in_schema=False)
        def web_config() -> FileResponse:
            return FileResponse(config_file, headers=_REVALIDATE)

    return app
