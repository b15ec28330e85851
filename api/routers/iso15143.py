"""/iso15143: the ISO 15143-3 (AEMP 2.0) fleet interface, scoped to the caller's machines."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/iso15143", tags=["iso15143"])
