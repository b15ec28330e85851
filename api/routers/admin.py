"""/v1/admin: owners, dealers, technicians, machines, device provisioning, rules."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/admin", tags=["admin"])
