"""Contact photos for the Google emulator, and the seed file's shorthand for generated content.

Google serves ``Photo.url`` from its image host (lh3.googleusercontent.com),
which needs no Authorization header; the emulator serves them at
``GET /photos/<token>`` without checking the Bearer token. A contact without a
photo gets a generated initial with ``default: true``, as Google's does.

Seed conventions (a seed file stays small and readable):

* ``"photos": [{"url": "sandbox:<name>-<W>x<H>.<png|jpg|gif>"}]`` — a generated
  image of that size and format becomes the contact's own photo;
* any string value ``"sandbox:lorem*<N>"`` — replaced by N characters of
  lorem-ipsum text in paragraphs (for very long notes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import secrets
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from contactsync.sandbox import google_people as gp
from contactsync.sandbox.google_people import ApiFailure
from contactsync.sandbox.server import Request, Response

if TYPE_CHECKING:
    from contactsync.sandbox.google import GoogleEmulator

# Photo.url carries its size as an option suffix of the last path segment
# (`…/contacts/<id>=s100`, also with flags such as `=s408-p-k-rw-no`), and the image
# host ignores `?sz=` there, answering 200 with that same rendition — despite what
# people.v1 Photo.url describes. Sources: a People API client's live measurement in
# public code ("`?sz=` is accepted and silently ignored … a URL with none serves the
# full stored image"), `=s100` / `=s408-p-k-rw-no` contact photo URLs in public code,
# and nextcloud/integration_google#140 (contact photos imported at 100x100).
LISTED_SIZE = 100
PLACEHOLDER_SIZE = 100
_SIZE_OPTION = re.compile(r"(?:^|-)s(?P<size>\d+)(?:-|$)")
_IMAGE = re.compile(r"^sandbox:(?P<name>[\w.-]*?)-?(?P<w>\d+)x(?P<h>\d+)\.(?P<fmt>png|jpe?g|gif)$", re.I)
_LOREM = re.compile(r"^sandbox:lorem\*(?P<n>\d+)$")
_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF"}
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}
LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
         "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris "
         "nisi ut aliquip ex ea commodo consequat.")


def generated_image(width: int, height: int, fmt: str = "PNG", seed: str = "") -> bytes:
    colour = tuple(hashlib.sha256(f"{seed}{width}x{height}".encode()).digest()[:3])
    image = Image.new("RGB", (width, height), colour)  # type: ignore[arg-type]
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def lorem(length: int) -> str:
    """`length` characters of lorem ipsum, a paragraph break every few sentences."""
    paragraph = " ".join([LOREM] * 3)
    text = "\n\n".join([paragraph] * (length // len(paragraph) + 1))
    return text[:length].rstrip() or text[:length]


def expand_text(value: Any) -> Any:
    """Apply the ``sandbox:lorem*N`` convention anywhere inside a seed value."""
    if isinstance(value, str):
        match = _LOREM.match(value)
        return lorem(int(match.group("n"))) if match else value
    if isinstance(value, list):
        return [expand_text(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_text(v) for k, v in value.items()}
    return value


def seed_photo(person: dict[str, Any]) -> bytes | None:
    """The image of a seed person's ``photos`` entry, generated from its ``sandbox:`` spec."""
    for photo in person.get("photos") or []:
        url = photo.get("url") or ""
        match = _IMAGE.match(url)
        if photo.get("default") or not match:
            continue
        return generated_image(int(match.group("w")), int(match.group("h")),
                               _FORMATS[match.group("fmt").lower()], match.group("name"))
    return None


def resized(image: bytes, size: int) -> tuple[bytes, str]:
    """The image fitted into `size` px (never enlarged), and its MIME type."""
    with Image.open(io.BytesIO(image)) as img:
        fmt = img.format or "PNG"
        if max(img.size) <= size:
            return image, _MIME.get(fmt, "application/octet-stream")
        img.thumbnail((size, size))
        out = io.BytesIO()
        img.save(out, format=fmt)
        return out.getvalue(), _MIME.get(fmt, "application/octet-stream")


class GooglePhotos:
    """The photo half of :class:`GoogleEmulator`: the image host and the photo methods."""

    def __init__(self, emulator: GoogleEmulator) -> None:
        self.emulator = emulator
        self.images: dict[str, bytes] = {}  # token -> bytes of a contact's own photo
        emulator.route("GET", r"/photos/(?P<token>[\w-]+?)(?:=(?P<options>[\w-]*))?", self.serve)
        emulator.route("PATCH", r"/v1/people/(?P<id>[^/:]+):updateContactPhoto",
                       emulator._api(self.update_contact_photo, write=True))
        emulator.route("DELETE", r"/v1/people/(?P<id>[^/:]+):deleteContactPhoto",
                       emulator._api(self.delete_contact_photo, write=True))

    def store(self, image: bytes | None) -> str | None:
        """Keep an image under a new token (a changed photo gets a new URL, as at Google)."""
        if image is None:
            return None
        token = secrets.token_urlsafe(18)
        self.images[token] = image
        return token

    def render(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        base = self.emulator.base_url
        meta = {"primary": True, "source": {"type": "CONTACT", "id": record["sourceId"]}}
        token = record.get("photo")
        if token:
            return [{"metadata": meta, "url": f"{base}/photos/{token}=s{LISTED_SIZE}"}]
        # Google renders a generated initial for a contact without a photo, flagged
        # `default: true` ("True if the photo is a default photo", Photo doc).
        return [{"metadata": meta, "url": f"{base}/photos/default-{record['sourceId']}=s{LISTED_SIZE}",
                 "default": True}]

    # -- endpoints -------------------------------------------------------------

    def serve(self, req: Request) -> Response:
        token = req.params["token"]
        with self.emulator.lock:
            image: bytes | None
            if token.startswith("default-"):
                image = generated_image(PLACEHOLDER_SIZE, PLACEHOLDER_SIZE, "PNG", token)
            else:
                image = self.images.get(token)
        if image is None:
            return Response(404, raw=b"", content_type="text/html; charset=UTF-8")
        # Only the `=sNNN` option sizes the image; `?sz=` is ignored (see LISTED_SIZE),
        # and no option at all serves the stored image as it is.
        match = _SIZE_OPTION.search(req.params.get("options") or "")
        if match is None:
            return Response(200, raw=image, content_type=resized(image, 1 << 30)[1])
        body, mime = resized(image, max(1, int(match.group("size"))))
        return Response(200, raw=body, content_type=mime)

    def update_contact_photo(self, req: Request, grant: Any) -> dict[str, Any]:
        record = self.emulator._record(f"people/{req.params['id']}")
        body = req.json() or {}
        try:
            image = base64.b64decode(body.get("photoBytes") or "", validate=False)
            with Image.open(io.BytesIO(image)) as img:
                img.verify()
        except (binascii.Error, UnidentifiedImageError, OSError) as exc:
            raise ApiFailure(400, "Invalid photo bytes.") from exc
        self.images.pop(record.get("photo") or "", None)
        record["photo"] = self.store(image)
        self.emulator._touch(record)
        return self._answer(record, body.get("personFields"))

    def delete_contact_photo(self, req: Request, grant: Any) -> dict[str, Any]:
        record = self.emulator._record(f"people/{req.params['id']}")
        self.images.pop(record.get("photo") or "", None)
        record["photo"] = None
        self.emulator._touch(record)
        return self._answer(record, req.arg("personFields"))

    def _answer(self, record: dict[str, Any], mask: str | None) -> dict[str, Any]:
        # "Defaults to empty if not set, which will skip the post mutate get."
        if not mask:
            return {}
        fields = gp.parse_mask(mask, gp.PERSON_FIELDS, "personFields",
                               "https://developers.google.com/people/api/rest/v1/people/updateContactPhoto")
        return {"person": self.emulator.render(record, fields)}
