"""Counting failed sign-ins in Redis, so that guessing passwords is slow whichever API process answers.

Three counts, each within ``window_s`` of its first failure (docs/adr/2026-12-02-sign-in-limits-per-
email-and-address.md):

- per email and client address: ``max_failures``. This is what stops one client guessing one account.
- per client address, over all emails: four times that. One client spraying many accounts.
- per email, from every address: ten times ``max_failures``, a slower global limit. It applies only to
  clients that have themselves failed on that email, so that someone who merely knows an email cannot
  lock its owner out: a client with no failure on it may still try (and its failure then counts).

A success clears the email's counts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import redis

from app.core.errors import ServiceUnavailableError, TooManyRequestsError

_PREFIX = "minelabel:sign-in-failures"
GLOBAL_EMAIL_FACTOR = 10
ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class SignInLimiter:
    client: redis.Redis
    max_failures: int
    window_s: int

    def _pair(self, email: str, client_ip: str) -> str:
        return f"{_PREFIX}:pair:{_normal(email)}:{client_ip}"

    def _email(self, email: str) -> str:
        return f"{_PREFIX}:email:{_normal(email)}"

    def _address(self, client_ip: str) -> str:
        return f"{_PREFIX}:ip:{client_ip}"

    def check(self, email: str, client_ip: str) -> None:
        """Raise TooManyRequestsError when a count that applies to this client is used up."""
        try:
            pair = self._pair(email, client_ip)
            pair_failures = int(self.client.get(pair) or 0)
            limits = [(pair, pair_failures, self.max_failures)]
            address = self._address(client_ip)
            limits.append((address, int(self.client.get(address) or 0), self.max_failures * ADDRESS_FACTOR))
            if pair_failures > 0:
                everyone = self._email(email)
                limits.append(
                    (everyone, int(self.client.get(everyone) or 0), self.max_failures * GLOBAL_EMAIL_FACTOR)
                )
            for key, failures, limit in limits:
                if failures >= limit:
                    wait = max(int(self.client.ttl(key)), 1)
                    raise TooManyRequestsError(
                        f"Too many failed sign-ins; try again in {wait} seconds, or ask an admin to reset "
                        "your password.",
                        retry_after_s=wait,
                    )
        except redis.RedisError as exc:
            raise ServiceUnavailableError(
                "Sign-in is unavailable: its rate limiter cannot reach Redis. Try again shortly."
            ) from exc

    def record_failure(self, email: str, client_ip: str) -> None:
        try:
            with self.client.pipeline() as pipe:
                for key in (self._pair(email, client_ip), self._address(client_ip), self._email(email)):
                    pipe.incr(key)
                    pipe.expire(key, self.window_s, nx=True)  # the window starts at the first failure
                pipe.execute()
        except redis.RedisError as exc:
            raise ServiceUnavailableError("Sign-in is unavailable: Redis cannot be reached.") from exc

    def clear(self, email: str, client_ip: str) -> None:
        with contextlib.suppress(redis.RedisError):  # the counts run out with their window anyway
            self.client.delete(self._pair(email, client_ip), self._email(email))


def _normal(email: str) -> str:
    return email.strip().lower()
