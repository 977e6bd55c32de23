"""Apply the SQL migrations in order, recording each in `supabase_migrations.schema_migrations` exactly as the
Supabase CLI does (version, name, and the file split into statements), so `cinelibre migrate` and
`supabase db push` can each follow the other.

The migrations are a package resource (`cinelibre/migrations`): in a built wheel, the files of the repository's
`supabase/migrations/` (hatch force-includes them); in a source checkout, a symbolic link to that folder. Either
way the repository folder stays the single source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import psycopg
from psycopg import sql

from cinelibre.errors import CineLibreError
from cinelibre.observability import logger

_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
# Serialises concurrent `migrate` runs (two cold starts, a test session and a CLI) on one database.
_LOCK_KEY = 0x43494E454C4942  # "CINELIB"
# The history table as the CLI creates it (pkg/migration/history.go): each step is idempotent, so either tool
# may create it first.
_HISTORY_TABLE_DDL = (
    "set local lock_timeout = '4s'",
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations (version text not null primary key)",
    "alter table supabase_migrations.schema_migrations add column if not exists statements text[]",
    "alter table supabase_migrations.schema_migrations add column if not exists name text",
)


class MigrationError(CineLibreError):
    code = "migration_failed"


def migrations_dir() -> Traversable:
    """The shipped migrations (see the module docstring)."""
    return files("cinelibre") / "migrations"


# Kept for callers that name the folder; a Traversable, a real directory in a wheel or a checkout.
MIGRATIONS_DIR = migrations_dir()


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Traversable

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def statements(self) -> list[str]:
        """The file as the Supabase CLI records it: split into statements, each trimmed."""
        return split_statements(self.text)


def discover(directory: Traversable | Path | None = None) -> list[Migration]:
    directory = directory if directory is not None else migrations_dir()
    if not directory.is_dir():
        raise MigrationError(f"no migrations folder at {directory}; reinstall cinelibre")
    migrations = []
    for path in sorted((p for p in directory.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named <YYYYMMDDHHMMSS>_<verb_noun>.sql")
        migrations.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version timestamp")
    return migrations


def earlier_function(version: str, function: str, temporary_name: str) -> str:
    """Migration `version`'s definition of `public.<function>`, renamed `pg_temp.<temporary_name>`: run on a
    connection, it puts that earlier definition beside the current one for that session only, so the two can
    be compared on the same rows."""
    (migration,) = [m for m in discover() if m.version == version]
    (statement,) = [s for s in migration.statements if f"function public.{function}(" in s]
    return statement.replace(f"function public.{function}(", f"function pg_temp.{temporary_name}(")


# -- splitting a file into statements, as the Supabase CLI does ------------------------------------------------
# The CLI (pkg/parser) scans the text once, tracking whether it is inside a quoted string, a dollar-quoted body,
# a comment, parentheses or a BEGIN ATOMIC body; a `;` outside all of them ends a statement. Each piece keeps
# its comments and whitespace, then loses trailing `;` and surrounding whitespace; empty pieces are dropped.
# This is our own reading of that behaviour, quirks included (parentheses do not nest: the first `)` closes
# every open one), because the recorded statements must be equal, not just equivalent.
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501


def _is_identifier_char(char: str) -> bool:
    return char.isalpha() or char.isdigit() or char in "_$"


def _ends_with_begin_atomic(token: str) -> bool:
    if token[-len("ATOMIC"):].upper() != "ATOMIC":
        return False
    before = token[: -len("ATOMIC")]
    if before and _is_identifier_char(before[-1]):
        return False
    before = before.rstrip(_GO_SPACE)
    if before[-len("BEGIN"):].upper() != "BEGIN":
        return False
    before = before[: -len("BEGIN")]
    return not before or not _is_identifier_char(before[-1])


class _Scanner:
    """States: ready, line comment, block comment (with depth), quote ('/"), dollar body ($tag$ or a line
    comment's newline), tag being read, escape, and "atomic" (inside parentheses or BEGIN ATOMIC ... END)
    which wraps the state it watches."""

    def __init__(self) -> None:
        self.state: tuple = ("ready",)

    def step(self, state: tuple, char: str, token: str) -> tuple | None:
        """The next state after `char` (the last character of `token`); None ends the statement."""
        kind = state[0]
        if kind == "ready":
            if char == "$":
                return ("tag", len(token) - 1)
            if char in "'\"":
                return ("quote", char, False)
            if char == "-":
                return ("comment",)
            if char == "/":
                return ("block", 0)
            if char == "\\":
                return ("escape",)
            if char == ";":
                return None
            if char == "(":
                return ("atomic", ("ready",), ")")
            if char in "cC" and _ends_with_begin_atomic(token):
                return ("atomic", ("ready",), "END")
            return state
        if kind == "comment":
            if char == "-":
                return ("dollar", "\n")
            return self.step(("ready",), char, token)
        if kind == "block":
            depth = state[1]
            window = token[-2:]
            if window == "/*":
                return ("block", depth + 1)
            if depth == 0:
                return self.step(("ready",), char, token)
            if window == "*/":
                return ("ready",) if depth == 1 else ("block", depth - 1)
            return state
        if kind == "quote":
            delimiter, escaped = state[1], state[2]
            if escaped:
                if char == delimiter:
                    return ("quote", delimiter, False)
                return self.step(("ready",), char, token)
            return ("quote", delimiter, char == delimiter)
        if kind == "dollar":
            return ("ready",) if token.endswith(state[1]) else state
        if kind == "tag":
            if char == "$":
                return ("dollar", token[state[1]:])
            if char.isalpha() or char.isdigit() or char == "_":
                return state
            return self.step(("ready",), char, token)
        if kind == "escape":
            return ("ready",)
        # atomic: watch the wrapped state; a `;` inside is not an end; the delimiter ends it when outside quotes
        inner, delimiter = state[1], state[2]
        following = self.step(inner, char, token)
        if following is not None:
            inner = following
        if inner == ("ready",) and token[-len(delimiter):].upper() == delimiter.upper():
            return ("ready",)
        return ("atomic", inner, delimiter)

    def split(self, text: str) -> Iterable[str]:
        start = 0
        state: tuple = ("ready",)
        for index, char in enumerate(text):
            following = self.step(state, char, text[start : index + 1])
            if following is None:
                yield text[start : index + 1]
                start, state = index + 1, ("ready",)
            else:
                state = following
        if start < len(text):
            yield text[start:]


def split_statements(text: str) -> list[str]:
    pieces = (piece.rstrip(";").strip(_GO_SPACE) for piece in _Scanner().split(text))
    return [piece for piece in pieces if piece]


# -- applying --------------------------------------------------------------------------------------------------
def _ensure_history_table(conn: psycopg.Connection) -> None:
    with conn.transaction():
        for statement in _HISTORY_TABLE_DDL:
            conn.execute(sql.SQL(statement))  # constant text


def applied_versions(conn: psycopg.Connection) -> dict[str, list[str] | None]:
    _ensure_history_table(conn)
    rows = conn.execute("select version, statements from supabase_migrations.schema_migrations").fetchall()
    return {version: statements for version, statements in rows}


def _recorded_matches(recorded: list[str] | None, migration: Migration) -> bool:
    """History written by the CLI, by this runner, or by this runner before it split files (the whole text as
    one statement) all describe the same file."""
    if recorded is None:
        return True
    return recorded == migration.statements or recorded == [migration.text]


def apply_migrations(conninfo: str, directory: Traversable | Path | None = None) -> list[str]:
    """Apply what has not run yet, each file in its own transaction. Returns the applied file names.

    A file edited after it was applied is refused: landed migrations are never edited, a new one is added.
    """
    migrations = discover(directory)
    applied_now: list[str] = []
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise MigrationError(f"cannot connect to the database ({reason}); check DATABASE_URL") from None
    with conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            done = applied_versions(conn)
            for migration in migrations:
                if migration.version in done:
                    if not _recorded_matches(done[migration.version], migration):
                        raise MigrationError(
                            f"{migration.path.name} was edited after it was applied; add a new migration instead"
                        )
                    continue
                _apply(conn, migration)
                logger.info("migration applied", extra={"migration": migration.path.name})
                applied_now.append(migration.path.name)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    """The statements one by one in one transaction, then the history row, as the CLI's batch does."""
    statements = migration.statements
    index = 0
    try:
        with conn.transaction():
            for index, statement in enumerate(statements):  # noqa: B007 (named in the error below)
                conn.execute(sql.SQL(statement))  # trusted files shipped with the package
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements) values (%s, %s, %s)",
                (migration.version, migration.name, statements),
            )
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc)
        raise MigrationError(
            f"{migration.path.name} failed at statement {index + 1} of {len(statements)}: {message}"
        ) from None
