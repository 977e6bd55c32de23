"""`cinelibre serve`: the three functions' routes on one app, so one local server answers every path the
three Function URLs answer in AWS."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from cinelibre.api import auth, catalog, recommend, search
from cinelibre.api.app import build_app, readiness_response
from cinelibre.api.dependencies import DatabaseDep, SettingsDep
from cinelibre.settings import Settings, get_settings

NAME = "cinelibre"


def create_local_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = build_app(
        name=NAME,
        settings=settings,
        routers=[auth.router, search.router, catalog.router, *recommend.ROUTERS],
        needs_tokens=True,
        description="CineLibre: every route of the auth, search and recommend functions on one server.",
    )
    auth.install_account_services(app, settings)

    @app.get("/", tags=["health"])
    def root(database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
        return readiness_response(
            NAME, {"database": database.health, "model": lambda: search.model_readiness(settings)}
        )

    return app
