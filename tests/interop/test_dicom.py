"""DICOM export of a consult photo: read back with pydicom, checked by dciodvfy."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pydicom
import pytest
from PIL import Image, ImageCms
from pydicom.encaps import generate_frames
from pydicom.sr.codedict import Collection
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from econsult.clock import zone
from econsult.errors import InvalidInput
from econsult.interop.body_sites import ANATOMIC_SITES, Site, anatomic_site
from econsult.interop.dicom import (
    DERMOSCOPIC_PHOTOGRAPHY_IMAGE,
    VL_PHOTOGRAPHIC_IMAGE,
    DicomPhoto,
    export_dicom,
    person_name,
    series_uid,
    sop_instance_uid,
    study_uid,
)
from tests.images.image_factories import TESTDATA

CONSULT_ID = "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"
IMAGE_ID = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
TZ = zone("America/Vancouver")
SUBMITTED = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 09:00 PST
UPLOADED = datetime(2026, 3, 2, 17, 4, 30, tzinfo=UTC)


def jpeg_bytes(size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: Any) -> bytes:
    """A small photo-like JPEG: a gradient, so the encoder has real detail to code."""
    w, h = size
    ramp = np.add.outer(np.arange(h) * 3, np.arange(w) * 2).astype(np.uint8)
    rgb = np.stack([ramp, ramp[::-1], np.full_like(ramp, 140)], axis=-1)
    im = Image.fromarray(rgb, "RGB").convert(mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def srgb_icc() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def display_p3_icc() -> bytes:
    """The Display P3 profile an iPhone put in a real HEIC (header read only, no decode)."""
    icc = pillow_heif.open_heif(TESTDATA / "phones" / "pug.heic").info["icc_profile"]
    assert isinstance(icc, bytes)
    return icc


def make_photo(**changes: Any) -> DicomPhoto:
    photo = DicomPhoto(
        image=jpeg_bytes(), content_type="image/jpeg", width=64, height=48,
        image_id=IMAGE_ID, consult_id=CONSULT_ID, label="overview",
        body_site="Left forearm", patient_name="Zoë Lévesque", birth_date=date(1980, 5, 17),
        sex="female", health_number="9876543210", health_number_issuer="BC PHN",
        submitted_at=SUBMITTED, uploaded_at=UPLOADED, referring_physician="Dr. Amrit Singh",
        institution_name="Fairview Family Practice",
        study_description="Dermatology e-consult", series_number=2, instance_number=3,
        timezone=TZ,
    )
    return replace(photo, **changes)


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def frame_of(ds: pydicom.Dataset) -> bytes:
    frames = list(generate_frames(ds.PixelData, number_of_frames=1))
    assert len(frames) == 1
    return frames[0]


@pytest.mark.parametrize(("label", "sop_class", "modality"), [
    ("overview", VL_PHOTOGRAPHIC_IMAGE, "XC"),
    ("close_up", VL_PHOTOGRAPHIC_IMAGE, "XC"),
    ("other", VL_PHOTOGRAPHIC_IMAGE, "XC"),
    ("dermoscopy", DERMOSCOPIC_PHOTOGRAPHY_IMAGE, "DMS"),
])
def test_sop_class_and_modality_follow_the_label(label: str, sop_class: str,
                                                  modality: str) -> None:
    ds = read(export_dicom(make_photo(label=label)))
    assert ds.SOPClassUID == sop_class
    assert ds.file_meta.MediaStorageSOPClassUID == sop_class
    assert ds.Modality == modality


@pytest.mark.parametrize("size", [(64, 48), (63, 47), (101, 33)])
def test_jpeg_is_encapsulated_byte_for_byte(size: tuple[int, int]) -> None:
    jpeg = jpeg_bytes(size)
    ds = read(export_dicom(make_photo(image=jpeg, width=size[0], height=size[1])))
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    # DICOM fragments have even length: an odd JPEG gets one trailing NUL, nothing else.
    assert frame_of(ds) == jpeg + b"\x00" * (len(jpeg) % 2)
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (size[1], size[0], 3)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (8, 8, 7, 0)
    assert ds.PlanarConfiguration == 0
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"


def test_a_dicom_decoder_shows_the_same_pixels_as_the_jpeg() -> None:
    """YBR_FULL_422 must not make a viewer convert colours a second time."""
    jpeg = jpeg_bytes((64, 48))
    ds = read(export_dicom(make_photo(image=jpeg)))
    expected = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.int16)
    assert np.abs(ds.pixel_array.astype(np.int16) - expected).max() <= 3


@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
def test_every_ycbcr_sampling_is_ybr_full_422(subsampling: int) -> None:
    jpeg = jpeg_bytes(subsampling=subsampling)
    ds = read(export_dicom(make_photo(image=jpeg)))
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert frame_of(ds).startswith(jpeg)


@pytest.mark.parametrize("icc", [None, srgb_icc()])
def test_greyscale_jpeg_is_monochrome2_without_a_colour_profile(icc: bytes | None) -> None:
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    jpeg = jpeg_bytes(mode="L", **extra)
    ds = read(export_dicom(make_photo(image=jpeg)))
    assert (ds.PhotometricInterpretation, ds.SamplesPerPixel) == ("MONOCHROME2", 1)
    assert "PlanarConfiguration" not in ds
    assert "ICCProfile" not in ds


def test_an_unreadable_profile_is_left_out_not_replaced_by_srgb() -> None:
    ds = read(export_dicom(make_photo(image=jpeg_bytes(icc_profile=b"not a profile" * 9))))
    assert "ICCProfile" not in ds and "ColorSpace" not in ds


def test_patient_study_and_series_attributes() -> None:
    ds = read(export_dicom(make_photo()))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Lévesque^Zoë"
    assert ds.PatientID == "9876543210"
    assert ds.IssuerOfPatientID == "BC PHN"
    assert ds.IssuerOfPatientIDQualifiersSequence[0].IdentifierTypeCode == "JHN"
    assert ds.PatientBirthDate == "19800517"
    assert ds.PatientSex == "F"
    assert (ds.StudyDate, ds.StudyTime) == ("20260302", "090000")
    assert (ds.ContentDate, ds.ContentTime) == ("20260302", "090430")
    assert ds.TimezoneOffsetFromUTC == "-0800"
    assert str(ds.ReferringPhysicianName) == "Singh^Amrit^^Dr."
    assert ds.InstitutionName == "Fairview Family Practice"
    assert ds.StudyDescription == "Dermatology e-consult"
    assert (ds.SeriesNumber, ds.InstanceNumber) == (2, 3)
    assert ds.Manufacturer == "econsult"
    assert ds.ImageType == ["DERIVED", "PRIMARY"]
    assert "AcquisitionDateTime" not in ds  # when the photo was taken is not known


def test_one_utc_offset_for_all_local_times_across_a_dst_change() -> None:
    """DST starts 2026-03-08 in Vancouver; the photo uploaded after it is shown in the
    study's offset (-0800), because one TimezoneOffsetFromUTC covers every DA/TM."""
    late = datetime(2026, 3, 9, 17, 0, tzinfo=UTC)  # 10:00 PDT, 09:00 at -0800
    ds = read(export_dicom(make_photo(uploaded_at=late)))
    assert ds.TimezoneOffsetFromUTC == "-0800"
    assert (ds.ContentDate, ds.ContentTime) == ("20260309", "090000")
    summer = read(export_dicom(make_photo(submitted_at=late, uploaded_at=late)))
    assert (summer.TimezoneOffsetFromUTC, summer.StudyTime) == ("-0700", "100000")


@pytest.mark.parametrize(("sex", "code"), [
    ("female", "F"), ("male", "M"), ("other", "O"), ("unknown", ""), (None, ""),
])
def test_patient_sex(sex: str | None, code: str) -> None:
    assert read(export_dicom(make_photo(sex=sex))).PatientSex == code


@pytest.mark.parametrize(("typed", "pn"), [
    ("Zoë Lévesque", "Lévesque^Zoë"),
    ("Mary Ann Smith", "Smith^Mary Ann"),
    ("de la Cruz, Ana", "de la Cruz^Ana"),
    ("Madonna", "Madonna"),
    ("  Jean   Tremblay ", "Tremblay^Jean"),
    ("Dr Amrit Singh", "Singh^Amrit^^Dr."),
    ("Evil^Name=X", "X^Evil Name"),
    ("", ""),
])
def test_person_name_rule(typed: str, pn: str) -> None:
    assert person_name(typed) == pn


def test_uids_are_deterministic_and_distinct_per_role() -> None:
    first, again = export_dicom(make_photo()), export_dicom(make_photo())
    assert first == again  # the same object, byte for byte, not merely the same UIDs
    ds = read(first)
    assert ds.StudyInstanceUID == study_uid(CONSULT_ID)
    assert ds.SeriesInstanceUID == series_uid(CONSULT_ID, "overview")
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.SOPInstanceUID == sop_instance_uid(IMAGE_ID)
    uids = {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}
    assert len(uids) == 3
    for uid in uids:
        assert uid.startswith("2.25.") and uid[5:].isdigit() and len(uid) <= 64
    other_image = str(uuid.UUID(int=uuid.UUID(IMAGE_ID).int + 1))
    close = read(export_dicom(make_photo(image_id=other_image, label="close_up")))
    assert close.StudyInstanceUID == ds.StudyInstanceUID
    assert close.SeriesInstanceUID != ds.SeriesInstanceUID
    assert close.SOPInstanceUID != ds.SOPInstanceUID


def test_a_colour_photo_without_a_profile_is_labelled_srgb_reproducibly() -> None:
    """The pipeline serves sRGB when it embeds no profile; the export says so."""
    ds = read(export_dicom(make_photo()))
    assert ds.ColorSpace == "SRGB"
    assert "srgb" in ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(ds.ICCProfile))).lower()


def test_an_embedded_srgb_profile_is_carried_over() -> None:
    icc = srgb_icc()
    ds = read(export_dicom(make_photo(image=jpeg_bytes(icc_profile=icc))))
    assert ds.ICCProfile == icc
    assert ds.ColorSpace == "SRGB"


def test_a_display_p3_profile_is_kept_and_not_called_srgb() -> None:
    icc = display_p3_icc()
    jpeg = jpeg_bytes(icc_profile=icc)
    ds = read(export_dicom(make_photo(image=jpeg, label="dermoscopy")))
    assert ds.ICCProfile == icc
    assert "ColorSpace" not in ds  # DICOM has no Defined Term for Display P3
    assert frame_of(ds).startswith(jpeg)  # the APP2 profile stays in the frame too


def test_png_is_stored_as_native_rgb_with_transparency_on_white() -> None:
    rgba = np.zeros((21, 33, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[:5, :5, 3] = 0  # a transparent corner
    ds = read(export_dicom(make_photo(image=png_bytes(Image.fromarray(rgba, "RGBA")),
                                      content_type="image/png", width=33, height=21)))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (ds.PhotometricInterpretation, ds.SamplesPerPixel) == ("RGB", 3)
    assert ds.LossyImageCompression == "00"
    pixels = ds.pixel_array
    assert pixels.shape == (21, 33, 3)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[10, 10].tolist() == [200, 0, 0]


def test_greyscale_png_becomes_rgb() -> None:
    grey = Image.fromarray(np.full((7, 9), 90, np.uint8), "L")
    ds = read(export_dicom(make_photo(image=png_bytes(grey), content_type="image/png",
                                      width=9, height=7)))
    assert ds.pixel_array[3, 3].tolist() == [90, 90, 90]


# PS3.16 CID 4029 "Dermatology Anatomic Site", as pydicom ships it.
CID_4029 = {code.value: code.meaning for code in Collection("CID4029").concepts.values()
            if code.scheme_designator == "SCT"}


@pytest.mark.parametrize(("phrase", "site"), sorted(ANATOMIC_SITES.items()))
def test_each_site_entry_is_in_cid_4029_and_is_exported(phrase: str, site: Site) -> None:
    assert CID_4029.get(site.code) == site.meaning
    ds = read(export_dicom(make_photo(body_site=f"Right {phrase}")))
    region = ds.AnatomicRegionSequence[0]
    assert (region.CodeValue, region.CodingSchemeDesignator) == (site.code, "SCT")
    assert region.CodeMeaning == site.meaning
    assert ds.ImageLaterality == "R"


@pytest.mark.parametrize(("typed", "phrase", "laterality"), [
    ("Left forearm", "forearm", "L"),
    ("skin of the right cheek", "cheek", "R"),
    ("FACE", "face", "U"),
    ("back of left hand", "back of hand", "L"),
    ("Lower back", "lower back", "U"),
    ("both feet", "foot", "B"),
    ("left and right calves", "calf", "B"),
    ("hands", "hand", None),
    ("R shin", "shin", "R"),
    ("genitals", "genitals", "U"),
])
def test_free_text_sites(typed: str, phrase: str, laterality: str | None) -> None:
    assert anatomic_site(typed) == (ANATOMIC_SITES[phrase], laterality)


@pytest.mark.parametrize(("typed", "laterality"), [
    ("", None), ("trunk", None), ("mole on back", None), ("back and arms", None),
    ("shoulder", None), ("left flank", "L"), ("scalp?!", "U"),
])
def test_sites_that_do_not_fit_exactly_are_not_coded(typed: str,
                                                     laterality: str | None) -> None:
    site, side = anatomic_site(typed)
    assert side == laterality
    if typed != "scalp?!":
        assert site is None
        ds = read(export_dicom(make_photo(body_site=typed)))
        assert "AnatomicRegionSequence" not in ds


def test_unknown_laterality_is_sent_empty_on_the_series() -> None:
    ds = read(export_dicom(make_photo(body_site="forearm")))
    assert ds.Laterality == ""
    assert "ImageLaterality" not in ds


def test_dermoscopy_attributes_say_unknown_where_nothing_is_recorded() -> None:
    ds = read(export_dicom(make_photo(label="dermoscopy")))
    assert ds.RecognizableVisualFeatures == "YES"
    for keyword in ("LightSourcePolarization", "ContactMethod", "EmitterColorTemperature",
                    "OpticalMagnificationFactor"):
        assert keyword in ds and ds[keyword].is_empty
    assert "ImmersionMedia" not in ds
    assert ds.DeviceSerialNumber and ds.SoftwareVersions and ds.ManufacturerModelName


def dciodvfy(tmp_path: Path, data: bytes) -> list[str]:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    path = tmp_path / "photo.dcm"
    path.write_bytes(data)
    run = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    return (run.stdout + run.stderr).splitlines()


@pytest.mark.parametrize(("changes", "iod"), [
    ({"label": "dermoscopy", "image": jpeg_bytes(icc_profile=display_p3_icc())},
     "DermoscopicPhotographyImage"),
    ({"label": "dermoscopy", "body_site": "", "sex": None}, "DermoscopicPhotographyImage"),
    ({"label": "overview", "body_site": "face"}, "VLPhotographicImage"),
    ({"label": "close_up", "image": jpeg_bytes(mode="L")}, "VLPhotographicImage"),
    ({"label": "other", "image": png_bytes(Image.new("RGBA", (33, 21), (9, 8, 7, 100))),
      "content_type": "image/png", "width": 33, "height": 21}, "VLPhotographicImage"),
])
def test_dciodvfy_finds_no_errors(tmp_path: Path, changes: dict[str, Any], iod: str) -> None:
    lines = dciodvfy(tmp_path, export_dicom(make_photo(**changes)))
    assert iod in lines, lines
    assert [line for line in lines if line.startswith("Error")] == [], lines


def test_dciodvfy_sees_a_real_error(tmp_path: Path) -> None:
    """The check above can fail: drop a Type 1 attribute and dciodvfy must say so."""
    ds = read(export_dicom(make_photo(label="dermoscopy")))
    del ds.RecognizableVisualFeatures
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    lines = dciodvfy(tmp_path, buf.getvalue())
    assert any(line.startswith("Error") and "RecognizableVisualFeatures" in line
               for line in lines), lines


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("CMYK", (64, 48), (0, 50, 90, 10)).save(buf, "JPEG")
    return buf.getvalue()


GOOD_JPEG = jpeg_bytes()
BAD_INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("webp", {"content_type": "image/webp"}),
    ("png bytes as jpeg", {"image": png_bytes(Image.new("RGB", (64, 48)))}),
    ("gif", {"image": b"GIF89a" + bytes(100)}),
    ("empty", {"image": b""}),
    ("random", {"image": bytes(range(256)) * 4}),
    ("truncated jpeg", {"image": GOOD_JPEG[: len(GOOD_JPEG) // 2]}),
    ("jpeg headers only", {"image": GOOD_JPEG[:300]}),
    ("progressive jpeg", {"image": jpeg_bytes(progressive=True)}),
    ("cmyk jpeg", {"image": _cmyk_jpeg()}),
    ("rgb-coded jpeg", {"image": jpeg_bytes(keep_rgb=True)}),
    ("jpeg as png", {"content_type": "image/png"}),
    ("truncated png", {"image": png_bytes(Image.new("RGB", (64, 48)))[:60],
                       "content_type": "image/png"}),
    ("16-bit png", {"image": png_bytes(Image.new("I;16", (64, 48))),
                    "content_type": "image/png"}),
    ("size mismatch", {"width": 65}),
    ("bad consult id", {"consult_id": "not-a-uuid"}),
    ("upper-case image id", {"image_id": IMAGE_ID.upper()}),
    ("naive time", {"uploaded_at": datetime(2026, 3, 2, 9, 0)}),
    ("bad label", {"label": "selfie"}),
    ("bad sex", {"sex": "f"}),
    ("long name", {"patient_name": "A" * 40 + " " + "B" * 40}),
    ("long description", {"study_description": "x" * 65}),
    ("negative series", {"series_number": -1}),
]


@pytest.mark.parametrize("changes", [c for _, c in BAD_INPUTS], ids=[n for n, _ in BAD_INPUTS])
def test_bad_input_is_refused_with_invalid_input(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        export_dicom(make_photo(**changes))
    assert refused.value.field in {*changes, "image"}  # names what to fix


def test_every_truncation_of_a_jpeg_is_refused_cleanly() -> None:
    """Cutting the file anywhere gives InvalidInput, never an IndexError or worse."""
    for cut in range(0, len(GOOD_JPEG) - 2, 7):
        with pytest.raises(InvalidInput):
            export_dicom(make_photo(image=GOOD_JPEG[:cut]))
