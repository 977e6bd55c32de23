"""Direct PostgreSQL adapter (psycopg 3): calls the same SQL functions as the Supabase adapter, by name with
named arguments. Pooler-friendly: no server-side prepared statements (Supabase's transaction pooler on port
6543 cannot keep them), one small pool per container that checks a connection before lending it if it sat
idle long enough to have been dropped (a Lambda frozen between invocations, a pooler's idle timeout), so a
dead connection is replaced instead of failing the request, and a busy one costs no extra round trip."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from pgvector import Vector
from pgvector.psycopg.vector import VectorBinaryDumper
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from cinelibre.db.errors import error_for_sqlstate
from cinelibre.db.port import Row
from cinelibre.db.rpc import RpcDatabase
from cinelibre.errors import DatabaseUnavailableError, ValidationError
from cinelibre.observability import logger

_OWN_MESSAGE_STATES = {"P0002", "22023"}
# A connection used this recently is trusted without a check; poolers and NAT drop idle ones after minutes.
CHECK_AFTER_IDLE_S = 10.0


def vector_literal(values: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


# A vector argument goes in pgvector's binary form (issue 12, session 6): no 384 float reprs to write, none for the
# server to parse, and the model's float32 values arrive bit for bit. The dumper is registered without the type's
# OID (pgvector's register_vector would look it up per connection): each call casts the argument to the function's
# parameter type, from which PostgreSQL infers it.
psycopg.adapters.register_dumper(Vector, VectorBinaryDumper)

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """Rows as PostgREST would give them: JSON types only."""
    if type(value) in _JSON_SCALARS:  # most values of most rows, checked once
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class PostgresTransport:
    def __init__(
        self, conninfo: str, *, max_connections: int = 1, connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 8.0, pool_timeout_s: float | None = None,
    ) -> None:
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_connections,
            kwargs={
                "autocommit": True,
                "prepare_threshold": None,
                "connect_timeout": max(1, int(connect_timeout_s)),
                "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}",
            },
            check=self._check_if_idle,
            reset=self._mark_used,
            # How long a request waits for a connection: with the database down, the answer is a prompt 503.
            timeout=pool_timeout_s if pool_timeout_s is not None else connect_timeout_s,
            open=False,
            name="cinelibre",
        )
        self._opened = False
        self._open_lock = threading.Lock()
        self._signatures: dict[str, dict[str, str]] = {}
        # The call's SQL text per (function, argument names, returns a set), composed once per container.
        self._statements: dict[tuple[str, tuple[str, ...], bool], str] = {}
        self._last_used: dict[int, float] = {}

    def _mark_used(self, conn: psycopg.Connection) -> None:
        self._last_used[id(conn)] = time.monotonic()

    def _check_if_idle(self, conn: psycopg.Connection) -> None:
        if time.monotonic() - self._last_used.get(id(conn), 0.0) > CHECK_AFTER_IDLE_S:
            ConnectionPool.check_connection(conn)

    def _ensure_open(self) -> None:
        if self._opened:
            return
        with self._open_lock:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False

    def _signature(self, conn: psycopg.Connection, function: str) -> dict[str, str]:
        """Argument names and types of public.<function>, read once per container. Casting each named
        argument to its declared type lets PostgreSQL resolve the call whatever Python type was passed."""
        cached = self._signatures.get(function)
        if cached is not None:
            return cached
        row = conn.execute(
            "select p.proargnames[1:p.pronargs],"
            " array(select format_type(t, null) from unnest(p.proargtypes) as t)"
            " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'public' and p.proname = %s",
            (function,),
        ).fetchone()
        if row is None:
            raise error_for_sqlstate("42883")
        names, types = row
        signature = dict(zip(names or [], types, strict=True))
        self._signatures[function] = signature
        return signature

    def _call(self, function: str, args: Mapping[str, Any], *, returns_set: bool) -> Any:
        self._ensure_open()
        try:
            with self._pool.connection() as conn:
                signature = self._signature(conn, function)
                params = {name: self._adapt(value, signature.get(name, "")) for name, value in args.items()}
                statement = self._statement(conn, function, signature, tuple(params), returns_set=returns_set)
                if returns_set:
                    with conn.cursor(row_factory=dict_row) as cur:
                        cur.execute(statement, params)
                        return [{k: _plain(v) for k, v in row.items()} for row in cur.fetchall()]
                result = conn.execute(statement, params).fetchone()
                return _plain(result[0]) if result else None
        except PoolTimeout:
            raise DatabaseUnavailableError(
                "cannot connect to the database; check DATABASE_URL (or the embedded PostgreSQL)"
            ) from None
        except psycopg.Error as exc:
            diag = exc.diag
            state = diag.sqlstate or getattr(exc, "sqlstate", None)
            logger.warning(
                "database call failed",
                extra={"function": function, "sqlstate": state, "db_message": diag.message_primary},
            )
            own = diag.message_primary if state in _OWN_MESSAGE_STATES else None
            if isinstance(exc, psycopg.OperationalError) and state is None:
                raise DatabaseUnavailableError("the database connection failed; try again") from None
            if isinstance(exc, psycopg.DataError) and state is None:
                # Refused by psycopg before it reached the server, e.g. a NUL byte in a text value.
                raise ValidationError("a value is not acceptable to the database (e.g. a NUL character)") from None
            raise error_for_sqlstate(state, constraint=diag.constraint_name, own_message=own) from None

    def _statement(
        self, conn: psycopg.Connection, function: str, signature: Mapping[str, str], names: tuple[str, ...], *,
        returns_set: bool,
    ) -> str:
        """`select * from public.f(a => %(a)s::type, ...)` (or `select public.f(...)`), composed on the first call
        of each shape and then reused: a search makes three calls, each of which composed it afresh."""
        key = (function, names, returns_set)
        statement = self._statements.get(key)
        if statement is None:
            arguments = sql.SQL(", ").join(
                sql.SQL("{} => {}::{}").format(sql.Identifier(name), sql.Placeholder(name), sql.SQL(signature[name]))
                for name in names
            )
            fn = sql.SQL("public.{}({})").format(sql.Identifier(function), arguments)
            call = sql.SQL("select * from {}") if returns_set else sql.SQL("select {}")
            statement = call.format(fn).as_string(conn)
            self._statements[key] = statement
        return statement

    @staticmethod
    def _adapt(value: Any, pg_type: str) -> Any:
        if value is None:
            return None
        if pg_type.endswith("vector") and not isinstance(value, str):
            return Vector(value if isinstance(value, list) else list(value))
        if pg_type == "jsonb":
            return Jsonb(value)
        return value

    def rows(self, function: str, args: Mapping[str, Any]) -> list[Row]:
        return self._call(function, args, returns_set=True)

    def scalar(self, function: str, args: Mapping[str, Any]) -> Any:
        return self._call(function, args, returns_set=False)


class PostgresDatabase(RpcDatabase):
    """The `Database` port over a direct PostgreSQL connection (DATABASE_URL or the embedded server)."""

    def __init__(self, conninfo: str, **options: Any) -> None:
        self.transport = PostgresTransport(conninfo, **options)
        super().__init__(self.transport)

    def close(self) -> None:
        self.transport.close()
