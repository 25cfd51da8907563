"""What can end a job's attempt: stop signals (cancel, a lost lease) and transient errors worth a retry.

Stop signals derive from BaseException, like KeyboardInterrupt, so that the ``except Exception`` of job
logic (which records a bad image and goes on, say) cannot swallow them.
"""

from __future__ import annotations

import socket

import psycopg
import redis
import sqlalchemy.exc


class JobStopped(BaseException):
    """The attempt must stop now; raised by the context's progress and check calls."""


class JobCancelledError(JobStopped):
    """Someone cancelled the job."""


class LeaseLostError(JobStopped):
    """Another attempt holds the job now (this one was taken for dead); it must record nothing."""


class TransientJobError(Exception):
    """Raised by job logic for a failure that another attempt may not meet (a service that is down)."""


def is_transient(exc: BaseException) -> bool:
    """A failure to reach the database, Redis or the object store, as opposed to a bad input or a bug.

    Walks the chain of causes, since libraries wrap connection errors in their own."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_type(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_type(exc: BaseException) -> bool:
    if isinstance(exc, TransientJobError | ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, psycopg.OperationalError | redis.ConnectionError | redis.TimeoutError):
        return True
    return _is_botocore_connection_error(exc)


def _is_botocore_connection_error(exc: BaseException) -> bool:
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover - botocore comes with boto3, which the S3 storage needs
        return False
    return isinstance(exc, BotoConnectionError | ReadTimeoutError)
