"""The database's integrity errors as domain errors: a duplicate natural key is a Conflict, a
reference to a missing record or a value a CHECK refuses is Invalid, each with the reason."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from psycopg import errors

from maintenance.errors import Conflict, Invalid


@contextmanager
def domain_errors(duplicates: Mapping[str, str]) -> Iterator[None]:
    """`duplicates` maps a unique constraint's name to what an admin should read; PostgreSQL's
    own detail (`Key (pin)=(...) already exists.`) is appended either way."""
    try:
        yield
    except errors.UniqueViolation as exc:
        what = duplicates.get(exc.diag.constraint_name or "", "a record with this key exists")
        raise Conflict(f"{what}: {exc.diag.message_detail or ''}".rstrip(": ")) from exc
    except errors.ForeignKeyViolation as exc:
        # `Key (owner_id)=(99) is not present in table "owners".`
        raise Invalid(exc.diag.message_detail or "a referenced record does not exist") from exc
    except errors.CheckViolation as exc:
        raise Invalid(f"value refused by {exc.diag.constraint_name}") from exc
