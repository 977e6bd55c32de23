"""Supabase adapter: supabase-py's PostgREST client calling the SQL functions as RPCs
(`POST {url}/rest/v1/rpc/<function>` with the service-role key), with explicit timeouts (the client would
wait 120 s, far beyond what Supabase lets a statement run) and one retry on a connection the server closed
while the Lambda container was frozen."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from postgrest.exceptions import APIError

from cinelibre.db.errors import error_for_sqlstate
from cinelibre.db.port import Row
from cinelibre.db.rpc import RpcDatabase
from cinelibre.errors import ConfigurationError, DatabaseUnavailableError
from cinelibre.observability import logger
from supabase import Client, ClientOptions, create_client

# PostgREST's own error codes (PGRSTxxx) that mean "the database is not reachable right now".
_UNAVAILABLE_PGRST = {"PGRST000", "PGRST001", "PGRST002", "PGRST003"}
_AUTH_PGRST_PREFIX = "PGRST3"  # JWT errors: the service-role key is wrong or expired
_STALE_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class SupabaseTransport:
    def __init__(self, url: str, service_role_key: str, *, timeout_s: float = 10.0) -> None:
        self.client: Client = create_client(
            url,
            service_role_key,
            options=ClientOptions(
                postgrest_client_timeout=timeout_s,
                auto_refresh_token=False,
                persist_session=False,
            ),
        )

    def _execute(self, function: str, args: Mapping[str, Any]) -> Any:
        for attempt in (1, 2):
            try:
                return self.client.rpc(function, dict(args)).execute().data
            except _STALE_CONNECTION_ERRORS:
                if attempt == 2:
                    raise DatabaseUnavailableError("the Supabase API closed the connection; try again") from None
                logger.info("retrying after a stale keep-alive connection", extra={"function": function})
            except httpx.TimeoutException:
                raise DatabaseUnavailableError("the Supabase API timed out") from None
            except httpx.TransportError:
                raise DatabaseUnavailableError("cannot reach the Supabase API; check SUPABASE_URL") from None
            except APIError as exc:
                raise self._translate(function, exc) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _translate(function: str, exc: APIError) -> Exception:
        code = exc.code or ""
        logger.warning("supabase rpc failed", extra={"function": function, "code": code, "db_message": exc.message})
        if code.startswith(_AUTH_PGRST_PREFIX):
            return ConfigurationError("Supabase refused the service-role key; check SUPABASE_SERVICE_ROLE_KEY")
        if code in _UNAVAILABLE_PGRST:
            return DatabaseUnavailableError("the Supabase database is unavailable; try again")
        own = exc.message if code in {"P0002", "22023"} else None
        return error_for_sqlstate(code, own_message=own)

    def rows(self, function: str, args: Mapping[str, Any]) -> list[Row]:
        data = self._execute(function, args)
        if data is None:
            return []
        return data if isinstance(data, list) else [data]

    def scalar(self, function: str, args: Mapping[str, Any]) -> Any:
        return self._execute(function, args)


class SupabaseDatabase(RpcDatabase):
    """The `Database` port over Supabase's PostgREST API."""

    def __init__(self, url: str, service_role_key: str, *, timeout_s: float = 10.0) -> None:
        self.transport = SupabaseTransport(url, service_role_key, timeout_s=timeout_s)
        super().__init__(self.transport)

    def close(self) -> None:
        return None
