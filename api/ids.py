"""Whole numbers as the API takes them: within the column type they are compared with or stored in.

A number past the column's range overflows in PostgreSQL (`bigint out of range`), which would be a
500; bounded here it is a 422 naming the parameter, and the OpenAPI document shows the bound. The
types work for path and query parameters as well as body fields.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Query
from pydantic import Field

BIGINT_MAX: Final = 2**63 - 1  # identity columns: owners, dealers, machines, tickets, ...
INTEGER_MAX: Final = 2**31 - 1  # integer columns: rule-set versions, part quantities

RecordId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
# A keyset position: 0 is before the first record.
After = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
Version = Annotated[int, Field(ge=1, le=INTEGER_MAX)]
# Page size of the owner's and the dispatcher's lists (the admin's take up to 200).
PageLimit = Annotated[int, Query(ge=1, le=100, description="page size")]
