"""Photo bytes -> an upright RGB uint8 array, safely and cheaply.

- The cost is known before the work: the headers are read in pure Python with bounded work
  (`inspect_image`: size, mode, frames or pages, JPEG scans), the peak memory and CPU time
  of decoding are estimated from them, and anything over a budget in `DecodeLimits` is
  refused before Pillow sees a byte (a PNG claiming 50,000 x 50,000, a progressive JPEG
  whose coefficient buffer would take 290 MB, a TIFF of 20,000 pages, a lossless WebP
  that expands to 190 MB).
- JPEGs decode in draft mode: libjpeg scales by 1/2, 1/4 or 1/8 while decoding, so a
  12 MP photo never exists at full size in memory.
- EXIF orientation is applied; grayscale, palette, CMYK, alpha and 16/32-bit images all
  become 8-bit RGB (transparent areas over white).

Modules: limits.py (`DecodeLimits`); header.py (`Header`, the readers' errors); jpeg.py,
containers.py (PNG, GIF, WebP, BMP) and tiff.py (the readers); estimate.py (peak memory and
CPU from the headers, and their calibration); cost.py (`ImageCost`, `inspect_image`, the
budget checks); decode.py (`decode_photo`, `Photo`).
"""

import importlib
from typing import TYPE_CHECKING, Any

from shared.images.limits import DecodeLimits

if TYPE_CHECKING:
    from shared.images.cost import FORMATS, MIN_SIDE, ImageCost, inspect_image
    from shared.images.decode import Photo, decode_photo

__all__ = ["FORMATS", "MIN_SIDE", "DecodeLimits", "ImageCost", "Photo", "decode_photo", "inspect_image"]
# Pillow (~100 ms to import) comes in with the first use of a decoding name, not with the
# package: predict_gesture reads DecodeLimits at start but decodes only when a photo comes.
_LAZY = {"FORMATS": "cost", "MIN_SIDE": "cost", "ImageCost": "cost", "inspect_image": "cost", "Photo": "decode", "decode_photo": "decode"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"shared.images.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'shared.images' has no attribute {name!r}")
