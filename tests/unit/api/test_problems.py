"""Domain errors become problem details with the status of their nearest mapped class."""

from __future__ import annotations

import pytest

from api.problems import status_for
from maintenance.errors import (
    AlreadyRated,
    Conflict,
    DomainError,
    Invalid,
    InvalidTransition,
    NotFound,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (InvalidTransition("x"), 409),  # a Conflict: a state the ticket is no longer in
        (AlreadyRated("x"), 409),
        (Invalid("x"), 422),
        (DomainError("x"), 400),
    ],
)
def test_status_by_nearest_mapped_class(error: DomainError, status: int) -> None:
    assert status_for(error) == status
