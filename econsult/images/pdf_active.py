"""Remove what a PDF can do (run scripts, start programs, send forms, carry files); keep
what it shows.

Every object is visited (`pdf.objects` and the trailer), not only the places readers
look, so an action hung under an odd key is caught too. Names arrive decoded from qpdf,
so `/J#61vaScript` is `/JavaScript` here. Stream contents are never read.

Actions are allow-listed: only GoTo (a jump inside the document) and URI links to
http(s) or mailto survive. A web link is what a specialist expects to follow from a lab
report, and readers ask before opening one; other schemes are dropped because file: and
UNC paths make Windows hand the user's credentials to a remote server, and javascript: or
data: run script in browser-based viewers. Everything else (JavaScript, Launch,
SubmitForm, ImportData, ResetForm, GoToR, GoToE, media, Named, Hide, ...) is removed.

Two passes: the first finds the indirect objects to remove (disallowed actions, file
attachment and media annotations, embedded file streams); the second deletes every
reference to them, from any key or array of any object, and every key that can act (/JS,
/AA, /OpenAction, /EmbeddedFiles, /EF, /XFA, ...). Nothing then reaches the objects found,
and saving writes only what is reachable.
"""

from __future__ import annotations

import pikepdf
from pikepdf import Array, Dictionary, Name, Object, Stream

_SAFE_URI_PREFIXES = ("http://", "https://", "mailto:")

_ACTION_LABELS = {
    "/JavaScript": "JavaScript",
    "/Launch": "launch action",
    "/SubmitForm": "form submit action",
    "/ImportData": "form import action",
    "/ResetForm": "form reset action",
    "/GoToR": "link to another file",
    "/GoToE": "link to an embedded file",
    "/GoToDp": "link to another document part",
    "/Rendition": "multimedia",
    "/Sound": "multimedia",
    "/Movie": "multimedia",
    "/RichMediaExecute": "multimedia",
    "/GoTo3DView": "multimedia",
    "/Named": "other action",
    "/Hide": "other action",
    "/SetOCGState": "other action",
    "/Thread": "other action",
    "/Trans": "other action",
}
_ANNOTATION_LABELS = {
    "/FileAttachment": "embedded file",
    "/Sound": "multimedia",
    "/Movie": "multimedia",
    "/Screen": "multimedia",
    "/RichMedia": "multimedia",
    "/3D": "multimedia",
}
# Keys removed wherever they appear, besides the forbidden names below. None: report what
# the value held rather than the key (an open action that only turns to page 1 is not worth
# telling the GP about).
_DROPPED_KEYS: dict[str, str | None] = {
    "/AA": None,
    "/OpenAction": None,
    "/EF": "embedded file",
    "/AF": "embedded file",
    "/Collection": "embedded file",
    "/XFA": "XFA form",
    "/NeedsRendering": "XFA form",
    "/RichMediaContent": "multimedia",
}
_ACTION_KEYS = frozenset({"/A", "/PA", "/Next"})
# Never left in the output, as a key or as a value, whatever holds them.
_FORBIDDEN_NAMES = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/Launch": "launch action",
    "/EmbeddedFiles": "embedded file",
    "/EmbeddedFile": "embedded file",
}


def strip_active_content(pdf: pikepdf.Pdf) -> set[str]:
    """Remove active content in place; return labels of what was removed, for the GP."""
    objects = list(pdf.objects)
    doomed: dict[tuple[int, int], str] = {}
    for obj in objects:
        label = _doomed_label(obj)
        if label is not None:
            doomed[obj.objgen] = label
    removed = set(doomed.values())
    for obj in [*objects, pdf.trailer]:
        _clean(obj, doomed, removed)
    return removed


def _doomed_label(obj: Object) -> str | None:
    """Why this dictionary must go (and be unreferenced), or None to keep it."""
    if not isinstance(obj, Dictionary | Stream):
        return None
    if _name(obj.get("/Type")) == "/EmbeddedFile":
        return "embedded file"
    subtype = _name(obj.get("/Subtype"))
    if subtype in _ANNOTATION_LABELS and ("/Rect" in obj or _name(obj.get("/Type")) == "/Annot"):
        return _ANNOTATION_LABELS[subtype]
    kind = _name(obj.get("/S"))
    if kind in _ACTION_LABELS:
        return _ACTION_LABELS[kind]
    if kind == "/URI" and not _is_web_link(obj):
        return "non-web link"
    return None


def _is_allowed_action(value: Object) -> bool:
    if isinstance(value, Array):  # /Next may list actions: each is checked as an item
        return True
    if not isinstance(value, Dictionary):
        return False
    kind = _name(value.get("/S"))
    return kind == "/GoTo" or (kind == "/URI" and _is_web_link(value))


def _is_web_link(action: Object) -> bool:
    uri = action.get("/URI")
    if not isinstance(uri, pikepdf.String):
        return False
    # Browsers ignore leading spaces and control characters before a scheme.
    text = bytes(uri).decode("latin-1").lstrip("".join(map(chr, range(33)))).lower()
    return text.startswith(_SAFE_URI_PREFIXES)


def _clean(top: Object, doomed: dict[tuple[int, int], str], removed: set[str]) -> None:
    """Clean one indirect object (or the trailer) and the direct objects inside it."""
    stack = [top]
    while stack:
        container = stack.pop()
        if isinstance(container, Array):
            for index in reversed(range(len(container))):
                item = container[index]
                label = _reference_label(item, doomed)
                if label is not None:
                    del container[index]
                    removed.add(label)
                _visit(item, stack)
            continue
        if not isinstance(container, Dictionary | Stream):
            continue
        for key in list(container.keys()):
            value = container[key]
            label = _key_label(key, value, doomed)
            if label is not None:
                del container[key]
                if label:
                    removed.add(label)
            # Dropped direct values are visited too, only to report what they held.
            _visit(value, stack)


def _visit(value: Object, stack: list[Object]) -> None:
    # Indirect objects are cleaned in their own turn; following them here could loop.
    if isinstance(value, Dictionary | Array | Stream) and not value.is_indirect:
        stack.append(value)


def _key_label(key: str, value: Object, doomed: dict[tuple[int, int], str]) -> str | None:
    """Why `key: value` must be deleted ("" for no report), or None to keep it."""
    if key in _FORBIDDEN_NAMES:
        return _FORBIDDEN_NAMES[key]
    if key in _DROPPED_KEYS:
        return _DROPPED_KEYS[key] or ""
    label = _reference_label(value, doomed)
    if label is not None:
        return label
    if key in _ACTION_KEYS and not _is_allowed_action(value):
        return ""
    return None


def _reference_label(value: Object, doomed: dict[tuple[int, int], str]) -> str | None:
    if isinstance(value, Name):
        return _FORBIDDEN_NAMES.get(str(value))
    if not isinstance(value, Dictionary | Stream):
        return None
    if value.is_indirect:
        return doomed.get(value.objgen)
    return _doomed_label(value)


def _name(value: Object | None) -> str | None:
    return str(value) if isinstance(value, Name) else None
