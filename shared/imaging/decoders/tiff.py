"""TIFF through Pillow's decoder, with the product's pixel cap as the only size limit.

Pillow's TIFF decoder runs Pillow's process-wide bomb check (``PIL.Image.MAX_IMAGE_PIXELS``,
89.5 MP unless changed) when it allocates the frame, so a 100 MP render that our own
``MAX_IMAGE_PIXELS`` (140 MP) admits would be refused, or warned about, by a limit that is not ours.
Rather than setting that global to ``None`` (a process-wide mutation that races with any other code
in the process that relies on it, and that tests would have to undo), this subclass allocates the
frame the way Pillow's ``ImageFile.load_prepare`` does, without the check.  ``probe`` has already
refused anything over our cap from the header, before this class allocates anything.
"""

from __future__ import annotations

from PIL import Image, ImageFile, TiffImagePlugin

from shared.core.errors import ErrorCode
from shared.imaging.failures import image_error

_FLOAT = 3  # SampleFormat: IEEE floating point


class CappedTiffImageFile(TiffImagePlugin.TiffImageFile):
    """Pillow's TIFF decoder; frame allocation skips Pillow's global bomb check (ours ran before).

    Pillow decodes 32-bit float TIFFs with one sample (mode ``F``, the HDR path), not float
    colour ones (three or four float samples): those are refused as UnsupportedImageFormat with
    what to export instead, rather than as a corrupt file.
    """

    def _setup(self) -> None:
        try:
            super()._setup()
        except SyntaxError as exc:
            if "unknown pixel mode" in str(exc) and self.tag_v2.get(TiffImagePlugin.SAMPLEFORMAT, (1,))[0] == _FLOAT:
                raise image_error(
                    ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
                    "floating-point colour TIFFs are not supported (Pillow decodes one float sample only); "
                    "export the render as OpenEXR, a 16-bit TIFF or a single-channel float TIFF",
                    format="TIFF",
                    width=self.tag_v2.get(TiffImagePlugin.IMAGEWIDTH),
                    height=self.tag_v2.get(TiffImagePlugin.IMAGELENGTH),
                ) from exc
            raise

    def load_prepare(self) -> None:
        if self._im is None:
            # _tile_size is the size of the frame being decoded (TIFF may decode a reduced one).
            self.im = Image.core.new(self.mode, self._tile_size)  # type: ignore[attr-defined]
        ImageFile.ImageFile.load_prepare(self)
