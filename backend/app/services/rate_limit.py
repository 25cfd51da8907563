"""Counting failed sign-ins in Redis, so that guessing passwords is slow whichever API process answers."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import redis

from app.core.errors import ServiceUnavailableError, TooManyRequestsError


@dataclass(frozen=True)
class SignInLimiter:
    """At most ``max_failures`` failed sign-ins per email, and four times that per client address, within
    ``window_s`` seconds of the first; a success clears the email's count."""

    client: redis.Redis
    max_failures: int
    window_s: int

    def _keys(self, email: str, client_ip: str) -> list[tuple[str, int]]:
        return [
            (f"minelabel:sign-in-failures:email:{email.strip().lower()}", self.max_failures),
            (f"minelabel:sign-in-failures:ip:{client_ip}", self.max_failures * 4),
        ]

    def check(self, email: str, client_ip: str) -> None:
        """Raise TooManyRequestsError when either count is used up."""
        try:
            for key, limit in self._keys(email, client_ip):
                failures = int(self.client.get(key) or 0)
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
                for key, _ in self._keys(email, client_ip):
                    pipe.incr(key)
                    pipe.expire(key, self.window_s, nx=True)  # the window starts at the first failure
                pipe.execute()
        except redis.RedisError as exc:
            raise ServiceUnavailableError("Sign-in is unavailable: Redis cannot be reached.") from exc

    def clear(self, email: str) -> None:
        with contextlib.suppress(redis.RedisError):  # the count runs out with its window anyway
            self.client.delete(self._keys(email, "")[0][0])
