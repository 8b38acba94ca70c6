"""The emulator's person picture upload: multipart parsing and the image rules.

POST /v1/persons/{id}/picture (v1 document, addPersonPicture): "Added image (or the
cropping parameters supplied with the request) should have an equal width and height
and should be at least 128 pixels. GIF, JPG and PNG are accepted." A breach is a 400
with Pipedrive's error body; the wording of each message is ours.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP

from PIL import Image, UnidentifiedImageError

from contactsync.sandbox.pipedrive_data import ApiReject

MIN_SIDE = 128
FORMATS = ("GIF", "JPEG", "PNG")
CROP_PARAMS = ("crop_x", "crop_y", "crop_width", "crop_height")


@dataclass
class FormPart:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def parse_form(content_type: str | None, body: bytes) -> dict[str, FormPart]:
    """The parts of a multipart/form-data body, by field name."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise ApiReject(400, "Validation failed: Content-Type must be multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ApiReject(400, "Validation failed: malformed multipart/form-data body")
    parts: dict[str, FormPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        parts[name] = FormPart(name, data, part.get_filename(), part.get_content_type())
    return parts


def form_summary(content_type: str | None, body: bytes) -> dict[str, str] | str:
    """What the request log keeps of a form: text fields as sent, files by size."""
    try:
        parts = parse_form(content_type, body)
    except ApiReject:
        return f"<{len(body)} bytes>"
    return {name: (f"<{len(p.data)} bytes {p.content_type}>" if p.filename is not None
                   else p.data.decode("utf-8", "replace")) for name, p in parts.items()}


def check_picture(parts: dict[str, FormPart]) -> tuple[str, int]:
    """Validate the upload; returns the image format and the side of the stored square."""
    upload = parts.get("file")
    if upload is None or upload.filename is None or not upload.data:
        raise ApiReject(400, "Validation failed: file: An image file must be given")
    try:
        with Image.open(io.BytesIO(upload.data)) as img:
            kind, (width, height) = img.format, img.size
    except (UnidentifiedImageError, OSError):
        raise ApiReject(400, "Validation failed: file: The file is not a valid image") from None
    if kind not in FORMATS:
        raise ApiReject(400, f"Validation failed: file: {kind} images are not accepted; use GIF, JPG or PNG")
    given = {k: parts[k].data.decode("utf-8", "replace").strip() for k in CROP_PARAMS if k in parts}
    if given:
        if len(given) < len(CROP_PARAMS):
            missing = next(k for k in CROP_PARAMS if k not in given)
            raise ApiReject(400, f"Validation failed: {missing}: All cropping parameters must be given together")
        crop = {}
        for key, text in given.items():
            if not text.isdigit():
                raise ApiReject(400, f"Validation failed: {key}: Must be a non-negative integer")
            crop[key] = int(text)
        if crop["crop_x"] + crop["crop_width"] > width or crop["crop_y"] + crop["crop_height"] > height:
            raise ApiReject(400, "Validation failed: The cropping area must lie inside the image")
        width, height = crop["crop_width"], crop["crop_height"]
    if width != height:
        raise ApiReject(400, f"Validation failed: The image must be square (got {width}x{height})")
    if width < MIN_SIDE:
        raise ApiReject(400, f"Validation failed: The image must be at least {MIN_SIDE}x{MIN_SIDE} pixels")
    return kind, width
