"""FHIR fixtures: the dermatologist on call, and an EMR registered for the personas' GP."""

from __future__ import annotations

import httpx
import pytest

from econsult.clock import ManualClock
from econsult.db import Database
from tests.factories import Personas, put_on_call
from tests.fhir.helpers import Registered, register


@pytest.fixture
async def emr(db: Database, clock: ManualClock, personas: Personas) -> Registered:
    """Acts for personas.gp only, with read/search on everything and create where needed."""
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    return await register(db, clock, [personas.gp])


@pytest.fixture
async def fhir(anon: httpx.AsyncClient, emr: Registered, clock: ManualClock
               ) -> httpx.AsyncClient:
    """`anon` carrying a bearer token of `emr`."""
    from tests.fhir.helpers import bearer, token

    anon.headers.update(bearer(await token(anon, emr, clock.now())))
    return anon
