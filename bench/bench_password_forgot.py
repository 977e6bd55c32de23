"""Does `POST /auth/password/forgot` tell a registered address from an unknown one by how long it takes?

    .venv/bin/python bench/bench_password_forgot.py [--requests 100] [--ses-latency-ms 60]

Drives the auth function's real Lambda handler (Function URL events, Mangum, FastAPI, the psycopg adapter on a
throwaway embedded PostgreSQL) with alternating requests for a registered address and an unknown one, in a
random order, and prints the median and 90th percentile of each. The email goes through the real SES adapter
(boto3) to moto's SES, in process: that is the CPU side of a send, but not SES's network round trip, so each
configuration also runs with `--ses-latency-ms` of sleep added before each send, a stand-in for the round trip
to SES from a Lambda in the same region (tens of ms). Rate limits are off, so every known-address request
sends (the worst case: the per-address email budget would otherwise skip some sends).

Configurations: "floor off" sets CINELIBRE_EMAIL_REQUEST_MIN_DURATION_S=0 (last session's behaviour plus the
single `request_password_reset` call); "floor on" uses the default floor. Compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the tests' Lambda event builder, as bench_payload.py does
os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "eu-west-1"}.items():
    os.environ.setdefault(name, value)

from bench_api import Context  # noqa: E402

from cinelibre.api.lambda_handler import make_handler  # noqa: E402
from cinelibre.db import embedded, get_database, migrate  # noqa: E402
from cinelibre.settings import Settings, get_settings  # noqa: E402
from tests.api.lambda_events import http_event, invoke  # noqa: E402

SENDER = "no-reply@cinelibre.example"
KNOWN = "ana@example.com"
UNKNOWN = "nobody@example.com"


class SlowerSes:
    """The SES adapter with a sleep before each send: a stand-in for the network round trip to SES."""

    def __init__(self, sender: Any, latency_s: float) -> None:
        self.sender = sender
        self.latency_s = latency_s
        self.sent = 0

    def send(self, message: Any) -> None:
        time.sleep(self.latency_s)
        self.sender.send(message)
        self.sent += 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(settings: Settings, sender: SlowerSes, requests: int, rng: random.Random) -> dict[str, list[float]]:
    from cinelibre.api import auth

    handler = make_handler(auth.create_app(settings, email_sender=sender))
    events = {
        path: http_event("POST", "/auth/password/forgot", json_body={"email": address})
        for path, address in (("registered", KNOWN), ("unknown", UNKNOWN))
    }
    answers = set()
    samples: dict[str, list[float]] = {"registered": [], "unknown": []}
    for index in range(requests + 5):
        order = list(events)
        rng.shuffle(order)
        for path in order:
            started = time.perf_counter()
            response = invoke(handler, Context(), events[path])
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.status != 202:
                raise SystemExit(f"{path}: {response.status} {response.text[:200]}")
            answers.add(response.text)
            if index >= 5:  # the first five rounds warm connections and code paths
                samples[path].append(elapsed_ms)
    if len(answers) != 1:
        raise SystemExit(f"the two paths answered differently: {answers}")
    if sender.sent != requests + 5:
        raise SystemExit(f"expected {requests + 5} emails to the registered address, sent {sender.sent}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per path and configuration")
    parser.add_argument("--ses-latency-ms", type=float, default=60.0)
    args = parser.parse_args()
    rng = random.Random(20261212)

    import boto3
    from moto import mock_aws

    from cinelibre.auth.email import SesEmailSender

    with tempfile.TemporaryDirectory(prefix="cinelibre-forgot-") as directory, mock_aws():
        data_dir = Path(directory)
        url = embedded.start(data_dir)
        try:
            migrate.apply_migrations(url)
            os.environ.update({
                "CINELIBRE_ENV": "production", "CINELIBRE_JWT_SECRET": secrets.token_urlsafe(48),
                "DATABASE_URL": url, "CINELIBRE_DATA_DIR": str(data_dir), "CINELIBRE_RATE_LIMITS_ENABLED": "false",
                "CINELIBRE_EMAIL_FROM": SENDER,
            })
            get_settings.cache_clear()
            base = get_settings()
            get_database(base).register_user(
                email=KNOWN, password_hash="$2b$12$" + "x" * 53, name="Ana", confirmed=True
            )
            client = boto3.client("ses", region_name="eu-west-1")
            client.verify_email_identity(EmailAddress=SENDER)
            ses = SesEmailSender(SENDER, client=client)
            default_floor = base.email_request_min_duration_s
            rows = []
            for latency_ms in (0.0, args.ses_latency_ms):
                for label, floor in (("floor off", 0.0), (f"floor on ({default_floor:g} s)", default_floor)):
                    settings = base.model_copy(update={"email_request_min_duration_s": floor})
                    # The handler prints EMF metric lines as in Lambda; they are not the report.
                    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                        samples = measure(settings, SlowerSes(ses, latency_ms / 1000), args.requests, rng)
                    known, unknown = samples["registered"], samples["unknown"]
                    row = (
                        f"| {label} | {latency_ms:g} | {statistics.median(known):.1f} | "
                        f"{percentile(known, 0.9):.1f} | {statistics.median(unknown):.1f} | "
                        f"{percentile(unknown, 0.9):.1f} | "
                        f"{statistics.median(known) / statistics.median(unknown):.3f} | "
                        f"{percentile(known, 0.9) / percentile(unknown, 0.9):.3f} |"
                    )
                    rows.append(row)
                    print(row, file=sys.stderr)
        finally:
            embedded.stop(data_dir)

    print(f"Command: `.venv/bin/python {' '.join(sys.argv)}`")
    print(f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}; "
          f"{args.requests} timed requests per path and configuration, after 5 untimed rounds.")
    print()
    print("| config | added SES latency ms | registered p50 ms | registered p90 ms | unknown p50 ms | unknown p90 ms |"
          " p50 ratio | p90 ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
