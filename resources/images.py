"""Images that come from outside (uploads, a user's folder): checked from their header before
anything decodes them, so a small file that declares a huge picture (a decompression bomb) is
refused by the gateway and skipped by the dataset instead of exhausting memory."""

import io
import os
from dataclasses import dataclass

from PIL import Image

MAX_IMAGE_PIXELS = 50_000_000  # a 48-megapixel phone photo fits; 11000x11000 does not
# what a client may share: the page scales a photo down to 2048 px before it sends it, and a
# camera's 12 MP frame fits; a 143 KB PNG declaring 49 MP (1.6 s, 650 MB to decode) does not
MAX_SHARED_IMAGE_PIXELS = 12_000_000
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class ImageRefusedError(ValueError):
    """Not an image Edgeline accepts; ``too_large`` tells a size problem from a format problem."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class ImageHeader:
    extension: str  # jpg, png or webp
    width: int
    height: int


def read_image_header(
    source: bytes | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS
) -> ImageHeader:
    """Format and size from the header alone (of bytes or a file); ImageRefusedError names
    what is wrong."""
    try:
        opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with opened as image:
            fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError:
        raise ImageRefusedError(
            f"image declares more than {max_pixels:,} pixels", too_large=True
        ) from None
    except Exception as error:  # Pillow raises many kinds for bytes that are not an image
        raise ImageRefusedError(
            f"not a readable JPEG, PNG or WebP image ({type(error).__name__})"
        ) from None
    if fmt not in IMAGE_FORMATS:
        raise ImageRefusedError(f"{fmt} images are not accepted: send JPEG, PNG or WebP")
    if width * height > max_pixels:
        raise ImageRefusedError(
            f"image is {width}x{height} pixels; at most {max_pixels:,} pixels",
            too_large=True,
        )
    return ImageHeader(IMAGE_FORMATS[fmt], width, height)
