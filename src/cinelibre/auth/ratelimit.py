"""Rate limits shared by every instance: Lambda instances share no memory, so each limit is a bucket row in
PostgreSQL, updated by one atomic statement (`take_rate_limit_tokens`, GCRA) per request. Keys hold a hash of
the IP or account, never the address itself."""

from __future__ import annotations

import hashlib
import random
from enum import StrEnum

from cinelibre.db.port import Database
from cinelibre.errors import RateLimitedError
from cinelibre.observability import logger
from cinelibre.settings import RateLimitRule, Settings

# About one request in this many also deletes idle buckets, so the table stays small without a scheduler.
PRUNE_ONE_IN = 500


class Action(StrEnum):
    LOGIN = "login"
    REGISTER = "register"
    REFRESH = "refresh"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (an action name)
    VERIFY = "verify"
    EMAIL = "email"
    SEARCH = "search"


def _rules(settings: Settings) -> dict[tuple[Action, str], RateLimitRule | None]:
    return {
        (Action.LOGIN, "ip"): settings.rate_limit_login_per_ip,
        (Action.LOGIN, "account"): settings.rate_limit_login_per_account,
        (Action.REGISTER, "ip"): settings.rate_limit_register_per_ip,
        (Action.REGISTER, "account"): settings.rate_limit_register_per_account,
        (Action.REFRESH, "ip"): settings.rate_limit_refresh_per_ip,
        # Taken inside rotate_refresh_token, which alone knows whose session a refresh token belongs to.
        (Action.REFRESH, "account"): settings.rate_limit_refresh_per_account,
        (Action.PASSWORD_RESET, "ip"): settings.rate_limit_password_reset_per_ip,
        (Action.PASSWORD_RESET, "account"): settings.rate_limit_password_reset_per_account,
        (Action.VERIFY, "ip"): settings.rate_limit_verify_per_ip,
        # Every message sent to one address (confirmation, reset, "you already have an account") shares one
        # budget, so nobody can use the service to flood someone's mailbox.
        (Action.EMAIL, "account"): settings.rate_limit_email_per_account,
        (Action.SEARCH, "ip"): settings.rate_limit_search_per_ip,
    }


def bucket_key(action: Action, kind: str, subject: str) -> str:
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{action}:{kind}:{digest}"


class RateLimiter:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._enabled = settings.rate_limits_enabled
        self._rules = _rules(settings)

    def rule(self, action: Action, kind: str) -> RateLimitRule | None:
        """The rule a caller applies itself (the per-account refresh limit, taken in SQL); None when off."""
        return self._rules.get((action, kind)) if self._enabled else None

    def check(self, action: Action, *, ip: str | None = None, account: str | None = None) -> None:
        """Take one request from each bucket that applies; RateLimitedError (429) when any is empty."""
        if not self._enabled:
            return
        buckets = []
        for kind, subject in (("ip", ip), ("account", account)):
            rule = self._rules.get((action, kind))
            if rule is not None and subject:
                buckets.append((bucket_key(action, kind, subject), rule.requests, rule.period_s))
        if not buckets:
            return
        rows = self._database.take_rate_limit_tokens(buckets=buckets)
        if random.randrange(PRUNE_ONE_IN) == 0:
            self._database.prune_rate_limit_buckets()
        refused = [row for row in rows if not row["allowed"]]
        if refused:
            retry_after = max(float(row["retry_after_s"]) for row in refused)
            kinds = sorted({row["bucket_key"].split(":")[1] for row in refused})
            raise rate_limited(action, retry_after, kinds)


def rate_limited(action: Action, retry_after_s: float, kinds: list[str]) -> RateLimitedError:
    logger.warning("rate limited", extra={"action": str(action), "by": kinds})
    return RateLimitedError(
        f"too many {action.replace('_', ' ')} requests; try again in {max(1, round(retry_after_s))} s",
        retry_after_s=retry_after_s,
    )
