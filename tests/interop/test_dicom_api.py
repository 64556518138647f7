"""GET /api/v1/images/{id}/dicom: the stored photo as DICOM for the consult's viewers,
valid by dciodvfy, the JPEG carried byte for byte, audited; 404 for everyone else."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import generate_frames
from sqlalchemy import select
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.interop.dicom import DERMOSCOPIC_PHOTOGRAPHY_IMAGE, VL_PHOTOGRAPHIC_IMAGE
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import Personas, ok
from tests.fhir.helpers import photo
from tests.interop.test_dicom import dciodvfy


@pytest.fixture
async def photos(personas: Personas, client_for: ClientFor) -> dict[str, str]:
    gp = await client_for(personas.gp)
    created = ok(await gp.post("/api/v1/consults", data={
        "specialty": "dermatology", "urgency": "routine",
        "question": "Pigmented lesion on the left forearm, changed over 3 months.",
        "patient_name": "Zoë Lévesque", "patient_dob": "1970-05-04",
        "patient_health_number": "9876 543 210", "body_site": "left forearm",
        "image_labels": ["overview", "dermoscopy"],
    }, files=[("images", ("a.jpg", photo(1), "image/jpeg")),
              ("images", ("b.jpg", photo(2), "image/jpeg"))]), 201)
    return {i["label"]: i["id"] for i in created["images"]} | {"consult": created["id"]}


async def test_a_dermoscopy_photo_exports_as_valid_dicom(
        photos: dict[str, str], personas: Personas, client_for: ClientFor, db: Database,
        tmp_path: Path, clock: ManualClock) -> None:
    gp = await client_for(personas.gp)
    response = await gp.get(f"/api/v1/images/{photos['dermoscopy']}/dicom")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom"
    ds = pydicom.dcmread(io.BytesIO(response.content))
    assert ds.SOPClassUID == DERMOSCOPIC_PHOTOGRAPHY_IMAGE and ds.Modality == "DMS"
    assert str(ds.PatientName) == "Lévesque^Zoë" and ds.PatientID == "9876 543 210"
    assert ds.IssuerOfPatientID == "BC PHN"
    assert str(ds.ReferringPhysicianName) == "Parker^Gail^^Dr."
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Skin of upper extremity"
    assert ds.ImageLaterality == "L"
    served = (await gp.get(f"/api/v1/images/{photos['dermoscopy']}")).content
    assert next(generate_frames(ds.PixelData, number_of_frames=1)) == served
    lines = dciodvfy(tmp_path, response.content)
    assert "DermoscopicPhotographyImage" in lines, lines
    assert [line for line in lines if line.startswith("Error")] == [], lines
    overview = await gp.get(f"/api/v1/images/{photos['overview']}/dicom")
    assert pydicom.dcmread(io.BytesIO(overview.content)).SOPClassUID == VL_PHOTOGRAPHIC_IMAGE
    async with db.read() as session:
        rows = list((await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "image.dicom"))).scalars())
    assert [(r.actor_id, r.object_id) for r in rows] == [
        (personas.gp.id, photos["dermoscopy"]), (personas.gp.id, photos["overview"])]


@pytest.mark.parametrize("who", ["staff", "other_gp", "cardio", "admin"])
async def test_nobody_else_gets_the_dicom(photos: dict[str, str], personas: Personas,
                                          client_for: ClientFor, who: str) -> None:
    client = await client_for(getattr(personas, who))
    for image in (photos["dermoscopy"], "00000000-0000-4000-8000-000000000000", "x"):
        assert (await client.get(f"/api/v1/images/{image}/dicom")).status_code == 404
