"""One consult photo as a DICOM Part 10 file, from plain data (no database, no web).

`export_dicom(DicomPhoto)` returns the bytes of a Dermoscopic Photography Image (label
`dermoscopy`) or a VL Photographic Image (every other label), so a PACS or a chart can
file the photo under the patient, with the consult as the study and each photo label as
a series. A served JPEG is encapsulated as it is, byte for byte, under JPEG Baseline:
re-encoding would lose quality a second time and the JPEG already is a valid DICOM frame.
A PNG is decoded to RGB and stored uncompressed, since DICOM has no PNG transfer syntax.
UIDs are derived from our UUIDs (`2.25.<integer>`), so a second export of the same photo
is the same object, not a duplicate. Attributes we cannot know (camera, light source,
laterality not typed by the GP) are sent empty where the standard allows "unknown", and
the body site is coded only when the GP's text names a site of DICOM CID 4029 exactly.
Attribute choices follow PS3.3 as encoded in dicom3tools' dciodvfy, which the tests run.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from zoneinfo import ZoneInfo

from PIL import Image, ImageCms
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit

from econsult.errors import InvalidInput
from econsult.interop.body_sites import anatomic_site
from econsult.interop.jpeg_frames import jpeg_frame

VL_PHOTOGRAPHIC_IMAGE = "1.2.840.10008.5.1.4.1.1.77.1.4"
DERMOSCOPIC_PHOTOGRAPHY_IMAGE = "1.2.840.10008.5.1.4.1.1.77.1.7"
_SERIES_DESCRIPTION = {"overview": "Overview photograph", "close_up": "Close-up photograph",
                       "dermoscopy": "Dermoscopic image", "other": "Clinical photograph"}
_SEX = {"female": "F", "male": "M", "other": "O", "unknown": ""}
# Fixed namespaces: the same ids always give the same UIDs, and the study, series and
# instance roles never share one even if two of our ids were ever equal.
_UID_NAMESPACE = uuid.UUID("f08c53fe-7c88-4a39-91a2-37f9f7537050")
_IMPLEMENTATION_UID = UID(f"2.25.{uuid.UUID('a531b1a8-f88d-4bfe-b73e-e795e152608d').int}")


@dataclass(frozen=True)
class DicomPhoto:
    """Everything one export needs, decrypted by the caller (a service with the consult,
    the ConsultImage row, the served bytes, the GP and Settings.timezone in hand).

    Series and instance numbers are the caller's: e.g. the label's position in
    overview, close_up, dermoscopy, other (1-4) and the photo's upload order within it.
    """

    image: bytes  # exactly as served by GET /images/{id}
    content_type: str  # "image/jpeg" | "image/png"
    width: int
    height: int
    image_id: str
    consult_id: str
    label: str  # overview | close_up | dermoscopy | other
    body_site: str  # the GP's free text; may be empty
    patient_name: str  # "Given Family" (or "Family, Given")
    birth_date: date
    sex: str | None  # female | male | other | unknown | None
    health_number: str
    health_number_issuer: str  # e.g. "BC PHN"
    submitted_at: datetime  # the consult's submission (aware): study date and time
    uploaded_at: datetime  # the photo's upload (aware): content date and time
    referring_physician: str  # the GP, "Given Family"
    institution_name: str
    study_description: str
    series_number: int
    instance_number: int
    timezone: ZoneInfo  # the program's zone, for local DA/TM values


def study_uid(consult_id: str) -> str:
    return _uid("study", _uuid(consult_id, "consult_id"))


def series_uid(consult_id: str, label: str) -> str:
    return _uid(f"series:{label}", _uuid(consult_id, "consult_id"))


def sop_instance_uid(image_id: str) -> str:
    return _uid("instance", _uuid(image_id, "image_id"))


def person_name(name: str, *, field: str = "name") -> str:
    """A DICOM PN ("Family^Given") from how people type names.

    "Family, Given" is taken as written. Otherwise the last word is the family name and
    the words before it the given names ("Mary Ann Smith" -> "Smith^Mary Ann"), which is
    wrong for multi-word family names ("Ana de la Cruz"); those can be typed with a comma.
    A leading "Dr" becomes the name prefix.
    """
    clean = " ".join(re.sub(r"[\^=\\\x00-\x1f]", " ", name).split())
    prefix = ""
    if re.match(r"(?i)dr\.?\s", clean):
        prefix, clean = "Dr.", clean.split(" ", 1)[1]
    if "," in clean:
        family, given = (part.strip() for part in clean.split(",", 1))
    else:
        given, _, family = clean.rpartition(" ")
    pn = "^".join((family, given, "", prefix)).rstrip("^")
    if len(pn) > 64:
        raise InvalidInput("A name is too long for DICOM (64 characters).", field=field)
    return pn


def export_dicom(photo: DicomPhoto) -> bytes:
    """The photo as a DICOM Part 10 file. Raises InvalidInput for unusable input."""
    _check(photo)
    ds = Dataset()
    _pixels(ds, photo)
    dermoscopy = photo.label == "dermoscopy"
    sop_class = DERMOSCOPIC_PHOTOGRAPHY_IMAGE if dermoscopy else VL_PHOTOGRAPHIC_IMAGE
    # One offset for every DA/TM in the instance (that is what TimezoneOffsetFromUTC
    # means), taken at the study time, so a photo uploaded across a DST change is
    # shown in the study's offset rather than mislabelled by an hour.
    offset = photo.timezone.utcoffset(photo.submitted_at) or timedelta(0)
    zone = timezone(offset)
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names such as "Zoë Lévesque"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance_uid(photo.image_id)
    ds.TimezoneOffsetFromUTC = _offset_text(offset)

    ds.PatientName = person_name(photo.patient_name, field="patient_name")
    ds.PatientID = _lo(photo.health_number, "health_number")
    if photo.health_number_issuer:
        ds.IssuerOfPatientID = _lo(photo.health_number_issuer, "health_number_issuer")
    if photo.health_number:
        qualifiers = Dataset()
        qualifiers.IdentifierTypeCode = "JHN"  # HL7 table 0203: jurisdictional health number
        ds.IssuerOfPatientIDQualifiersSequence = [qualifiers]
    ds.PatientBirthDate = photo.birth_date.strftime("%Y%m%d")
    ds.PatientSex = _SEX[photo.sex or "unknown"]

    ds.StudyInstanceUID = study_uid(photo.consult_id)
    ds.StudyDate, ds.StudyTime = _da_tm(photo.submitted_at, zone)
    ds.ReferringPhysicianName = person_name(photo.referring_physician,
                                            field="referring_physician")
    # Type 2, and the consult has no short number of its own (dciodvfy warns that a
    # DICOMDIR would want one; a prefix of the UUID would only look like an identifier).
    ds.StudyID = ""
    ds.AccessionNumber = ""  # Type 2; no order system assigns one
    ds.StudyDescription = _lo(photo.study_description, "study_description")

    # The Dermoscopic IOD requires DMS; dicom3tools 2022's list of Modality terms
    # predates it, hence its "unrecognized defined term" warning.
    ds.Modality = "DMS" if dermoscopy else "XC"
    ds.SeriesInstanceUID = series_uid(photo.consult_id, photo.label)
    ds.SeriesNumber = photo.series_number
    ds.SeriesDescription = _SERIES_DESCRIPTION[photo.label]
    site, laterality = anatomic_site(photo.body_site)
    if laterality is None:
        # Type 2C when Image Laterality is absent; empty says "unknown", which is the
        # truth when the GP did not type a side (dciodvfy warns that it is empty).
        ds.Laterality = ""
    else:
        ds.ImageLaterality = laterality

    # The equipment that produced this instance is econsult itself: the camera is
    # unknown (the served image carries no EXIF) and software has no serial number.
    ds.Manufacturer = "econsult"
    ds.ManufacturerModelName = "econsult DICOM export"
    ds.DeviceSerialNumber = "SOFTWARE (NO SERIAL NUMBER)"
    ds.SoftwareVersions = metadata.version("econsult")
    if photo.institution_name:
        ds.InstitutionName = _lo(photo.institution_name, "institution_name")

    ds.InstanceNumber = photo.instance_number
    ds.PatientOrientation = ""  # Type 2: a hand-held photo has no known orientation
    ds.ContentDate, ds.ContentTime = _da_tm(photo.uploaded_at, zone)
    # DERIVED: the served pixels were rotated upright and re-encoded from the upload.
    # No acquisition date/time: when the photo was taken is unknown (EXIF is removed).
    ds.ImageType = ["DERIVED", "PRIMARY"]
    # Type 1 in the Dermoscopic Image Module. Whether a photo shows a face, a tattoo or a
    # label cannot be told here, so it says YES: the safe error is over-protecting.
    ds.RecognizableVisualFeatures = "YES"
    ds.AcquisitionContextSequence = []  # Type 2: nothing recorded about acquisition
    if site is not None:
        region = Dataset()
        region.CodeValue = site.code
        region.CodingSchemeDesignator = "SCT"
        region.CodeMeaning = site.meaning
        ds.AnatomicRegionSequence = [region]
    if dermoscopy:
        # PS3.3 does not list a Frame of Reference for this IOD, but dciodvfy requires
        # one (its template has the module as User Optional with no condition). One used
        # by this image alone is true, claims no registration, and satisfies both.
        ds.FrameOfReferenceUID = _uid("frame-of-reference", _uuid(photo.image_id, "image_id"))
        ds.PositionReferenceIndicator = ""
        # Type 2: how the dermatoscope was used is not recorded anywhere, so "unknown".
        ds.LightSourcePolarization = ""
        ds.EmitterColorTemperature = ""
        ds.ContactMethod = ""
        ds.OpticalMagnificationFactor = ""

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = (
        JPEGBaseline8Bit if photo.content_type == "image/jpeg" else ExplicitVRLittleEndian)
    ds.file_meta.ImplementationClassUID = _IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = f"ECONSULT_{ds.SoftwareVersions}"[:16]
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _check(photo: DicomPhoto) -> None:
    if photo.content_type not in ("image/jpeg", "image/png"):
        raise InvalidInput("Only JPEG and PNG photos can be exported to DICOM.",
                           field="content_type")
    if photo.label not in _SERIES_DESCRIPTION:
        raise InvalidInput("Photo labels are overview, close_up, dermoscopy or other.",
                           field="label")
    if photo.sex is not None and photo.sex not in _SEX:
        raise InvalidInput("Sex is female, male, other or unknown.", field="sex")
    for name in ("submitted_at", "uploaded_at"):
        if getattr(photo, name).utcoffset() is None:
            raise InvalidInput("Times must carry a time zone.", field=name)
    for name in ("series_number", "instance_number"):
        if not 0 <= getattr(photo, name) < 2**31:
            raise InvalidInput("Series and instance numbers are 0 to 2^31-1.", field=name)


def _pixels(ds: Dataset, photo: DicomPhoto) -> None:
    """Image Pixel, VL Image and ICC Profile attributes, from the image itself."""
    if photo.content_type == "image/jpeg":
        jpeg = jpeg_frame(photo.image)
        im = _open(photo.image, "JPEG")
        samples, rows, columns = jpeg.components, jpeg.height, jpeg.width
        # PS3.3 C.8.12.1.1.2 allows only YBR_FULL_422 for lossy JPEG colour in VL
        # images, whatever the chroma subsampling; decoders follow the JPEG's own
        # sampling factors, and PS3.5 8.2.1 also uses YBR_FULL_422 for YCbCr JPEG.
        ds.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.PixelData = encapsulate([photo.image])
    else:
        im = _open(photo.image, "PNG")
        if im.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA"):
            raise InvalidInput("Only 8-bit PNG photos can be exported to DICOM.",
                               field="image")
        rgb = _flatten(im)
        samples, rows, columns = 3, rgb.height, rgb.width
        ds.PhotometricInterpretation = "RGB"
        ds.LossyImageCompression = "00"
        ds.PixelData = rgb.tobytes()
    if (columns, rows) != (photo.width, photo.height):
        raise InvalidInput("The photo's size does not match its record.", field="image")
    if rows > 65535 or columns > 65535:
        raise InvalidInput("The photo is too large for DICOM.", field="image")
    ds.SamplesPerPixel = samples
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if samples == 1:
        return  # an ICC Profile describes colour; MONOCHROME2 needs none
    # The images pipeline serves sRGB unless it embeds a profile: say so, so a
    # colour-managed viewer does not have to assume.
    icc = im.info.get("icc_profile") or _srgb_profile()
    description = _profile_description(icc)
    if description is not None:  # a profile no colour engine can read is left out
        ds.ICCProfile = icc
        if "srgb" in description.lower().replace(" ", ""):
            ds.ColorSpace = "SRGB"  # Display P3 has no Defined Term; the profile says it


def _open(data: bytes, kind: str) -> Image.Image:
    """Decode fully, so a truncated or corrupt file is refused here, not in a viewer."""
    try:
        im = Image.open(io.BytesIO(data), formats=[kind])
        im.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"The photo is not a readable {kind}.", field="image") from exc
    return im


def _flatten(im: Image.Image) -> Image.Image:
    """RGB; transparency over white, as the images pipeline does for JPEG."""
    if im.mode in ("LA", "PA", "RGBA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def _srgb_profile() -> bytes:
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # littlecms stamps the creation time into the header (bytes 24-35); a fixed date keeps
    # two exports byte-identical. The profile ID (bytes 84-99) is not set, so stays valid.
    profile[24:36] = (2000).to_bytes(2, "big") + bytes([0, 1, 0, 1]) + bytes(6)
    return bytes(profile)


def _profile_description(icc: bytes) -> str | None:
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput("Ids must be UUIDs.", field=field) from exc
    if str(parsed) != value:
        raise InvalidInput("Ids must be canonical lower-case UUIDs.", field=field)
    return parsed


def _uid(role: str, value: uuid.UUID) -> str:
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, f'{role}:{value}').int}"


def _lo(value: str, field: str) -> str:
    """A DICOM LO value: one line, no backslash (it separates values), at most 64."""
    clean = " ".join(value.replace("\\", "/").split())
    if len(clean) > 64:
        raise InvalidInput("A field is too long for DICOM (64 characters).", field=field)
    return clean


def _da_tm(moment: datetime, zone: timezone) -> tuple[str, str]:
    local = moment.astimezone(zone)
    return local.strftime("%Y%m%d"), local.strftime("%H%M%S")


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
