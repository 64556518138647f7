"""Where on the body a photo was taken, as DICOM codes it: free text a GP typed ("left
forearm") to a SNOMED CT site from DICOM CID 4029 (Anatomic Region for Dermatology)
and a laterality. Nothing is guessed: text that matches no entry gets no code."""

from __future__ import annotations

import re
from typing import NamedTuple


class Site(NamedTuple):
    code: str  # SNOMED CT
    meaning: str
    paired: bool  # has a left and a right, so laterality is unknown unless typed


# Free text -> a member of CID 4029 "Dermatology Anatomic Site" (DICOM PS3.16; codes and
# meanings checked against the copy of PS3.16 that pydicom ships, pydicom.sr.codedict
# Collection("CID4029"), which the tests check every entry against).
# CID 4029 has no plain "skin of upper arm/forearm/thigh/lower leg/knee" (only their
# surfaces), so those map to the enclosing limb, which is true, rather than to a surface,
# which would be a guess. It has no whole-trunk concept either: "trunk" stays uncoded.
_UPPER_LIMB = Site("371311000", "Skin of upper extremity", True)
_LOWER_LIMB = Site("371304004", "Skin of lower extremity", True)
_GENITALIA = Site("60944009", "Skin of external genitalia", False)
ANATOMIC_SITES: dict[str, Site] = {
    "scalp": Site("43067004", "Skin of scalp", False),
    "head": Site("70762009", "Skin of head", False),
    "face": Site("73897004", "Skin of face", False),
    "forehead": Site("68698007", "Skin of forehead", False),
    "cheek": Site("36141000", "Skin of cheek", True),
    "nose": Site("113179006", "Skin of nose", False),
    "lip": Site("88089004", "Skin of lip", False),
    "chin": Site("23747009", "Skin of chin", False),
    "ear": Site("1902009", "Skin of ear", True),
    "neck": Site("43081002", "Skin of neck", False),
    "chest": Site("244106003", "Skin of anterior surface of thorax", False),
    "back": Site("66643007", "Skin of back", False),
    "lower back": Site("113182001", "Skin of lower back", False),
    "abdomen": Site("75093004", "Skin of abdomen", False),
    "axilla": Site("76261009", "Skin of axilla", True),
    "armpit": Site("76261009", "Skin of axilla", True),
    "groin": Site("39687006", "Skin of inguinal region", True),
    "buttock": Site("22180002", "Skin of buttock", True),
    **dict.fromkeys(("genitals", "genital", "genitalia"), _GENITALIA),
    "scrotum": Site("81992007", "Skin of scrotum", False),
    "penis": Site("35900000", "Skin of penis", False),
    "perineum": Site("48014002", "Skin of perineum", False),
    **dict.fromkeys(("arm", "upper arm", "forearm"), _UPPER_LIMB),
    "hand": Site("33712006", "Skin of hand", True),
    "palm": Site("70887009", "Skin of palm of hand", True),
    "back of hand": Site("281642007", "Skin of part of dorsal surface of hand", True),
    "finger": Site("244169007", "Skin of digit of hand", True),
    "fingernail": Site("770809003", "Nail unit of finger", True),
    **dict.fromkeys(("leg", "thigh", "knee", "lower leg"), _LOWER_LIMB),
    "shin": Site("25763004", "Skin of anterior surface of lower leg", True),
    "calf": Site("47224004", "Skin of posterior surface of lower leg", True),
    "foot": Site("60496002", "Skin of foot", True),
    "heel": Site("84607009", "Skin of heel", True),
    "toe": Site("52034004", "Skin of toe", True),
    "toenail": Site("770805009", "Nail unit of toe", True),
}
_LATERALITY_WORDS = {"left": "L", "lt": "L", "l": "L", "right": "R", "rt": "R", "r": "R",
                     "both": "B", "bilateral": "B"}
_FILLER_WORDS = {"the", "skin", "of", "and"}  # only dropped from the start
_IRREGULAR_PLURALS = {"feet": "foot", "calves": "calf"}


def anatomic_site(body_site: str) -> tuple[Site | None, str | None]:
    """(site, image laterality) read from the GP's text; None where it does not say.

    Laterality words (left/right/both) are taken out first; what remains must then be
    exactly a key of ANATOMIC_SITES or its plural, so "mole on back" or "back and arms"
    is not coded: a wrong code is worse than none.
    """
    words = re.sub(r"[^a-z]+", " ", body_site.lower()).split()
    sides = {_LATERALITY_WORDS[w] for w in words if w in _LATERALITY_WORDS}
    rest = [w for w in words if w not in _LATERALITY_WORDS]
    while rest and rest[0] in _FILLER_WORDS:  # "skin of the left cheek", "left and right"
        rest.pop(0)
    phrase = " ".join(rest)
    singular = _IRREGULAR_PLURALS.get(phrase, phrase.removesuffix("s"))
    site = ANATOMIC_SITES.get(phrase) or ANATOMIC_SITES.get(singular)
    laterality = "B" if {"L", "R"} <= sides else (sides.pop() if len(sides) == 1 else None)
    if laterality is None and site is not None and not site.paired:
        laterality = "U"  # DICOM's "unpaired": the site has no left or right
    return site, laterality
