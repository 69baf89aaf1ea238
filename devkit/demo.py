"""``python -m devkit.demo`` (``make run``): the whole flow on local stand-ins, no cloud account.

Starts Azurite and the iTwin emulator on loopback, drops sample images (a good render, a JPEG
photo, an OpenEXR render, a HEIC phone photo, a broken file, a render for an iModel the client may
not touch, a file outside an iModel folder), drains them through the same pipeline the function
runs, and shows where each ended.  Every sample is made here, in code.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import shutil
import signal
from pathlib import Path
from types import FrameType

import requests
from azure.storage.blob import BlobServiceClient
from PIL import Image, ImageDraw

from devkit.azurite import Azurite
from devkit.emulator import Emulator, EmulatorConfig
from devkit.local_env import create_containers, local_env
from shared.delivery.compose import build_pipeline
from shared.delivery.pipeline import Pipeline, utcnow
from shared.ops.deadletters import DeadLetters
from shared.ops.drain import drain, watch
from shared.ops.output import print_outcome
from shared.settings import Settings, load_settings

GOOD_IMODEL = "5e19bee0-3aea-4355-a9f0-c6df9989ee7d"
PHOTO_IMODEL = "0b5c6bd4-97a4-4a3b-9a0e-3c1f4e0e8d11"
FORBIDDEN_IMODEL = "9a1c2f30-7e44-4c0b-8d5e-2b6f1a9c0d42"
EXR_IMODEL = "3f6b8d2a-1c4e-4f7a-9b0d-5e2c7a1f3b64"
HEIC_IMODEL = "7d41c9e2-8a3b-4e5f-a6c7-0b9d2e4f6a18"


def sample_render(width: int = 1920, height: int = 1080) -> bytes:
    """A stand-in for a renderer's frame: a sky gradient, ground and a few 'buildings'."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(90 + 120 * y / height)
        draw.line([(0, y), (width, y)], fill=(shade // 2, shade, 230))
    draw.rectangle([0, int(height * 0.7), width, height], fill=(70, 110, 60))
    for i, (w, h) in enumerate([(180, 420), (240, 600), (150, 300), (300, 520), (200, 380)]):
        x = 160 + i * 330
        draw.rectangle([x, int(height * 0.7) - h, x + w, int(height * 0.7)], fill=(200 - i * 20, 190, 180 + i * 10))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def sample_photo() -> bytes:
    image = Image.new("RGB", (1600, 1200), (180, 140, 90))
    ImageDraw.Draw(image).ellipse([400, 300, 1200, 900], fill=(30, 60, 160))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def sample_exr(width: int = 1920, height: int = 1080) -> bytes:
    """The sample render as a renderer's native output: linear half-float RGBA OpenEXR (ZIP), with
    highlights above 1.0, which the image stage tone-maps."""
    import numpy as np
    import OpenEXR

    with Image.open(io.BytesIO(sample_render(width, height))) as frame:
        srgb = np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4) * 2.5
    channels = {name: np.ascontiguousarray(linear[..., i], dtype=np.float16) for i, name in enumerate("RGB")}
    channels["A"] = np.ones((height, width), np.float16)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    buffer = io.BytesIO()
    with OpenEXR.File(header, channels) as exr:
        exr.write(buffer)
    return buffer.getvalue()


def sample_heic() -> bytes:
    """A phone's site photo: HEIC, held upright (EXIF orientation 6 on landscape pixels)."""
    import pillow_heif

    image = Image.new("RGB", (1600, 1200), (120, 160, 200))
    ImageDraw.Draw(image).rectangle([200, 300, 1400, 900], fill=(150, 90, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=80, exif=exif.tobytes())
    return buffer.getvalue()


def samples() -> dict[str, bytes]:
    render = sample_render()
    return {
        f"{GOOD_IMODEL}/render.png": render,
        f"{PHOTO_IMODEL}/site-photo.jpg": sample_photo(),
        f"{EXR_IMODEL}/beauty.0001.exr": sample_exr(),
        f"{HEIC_IMODEL}/IMG_0042.HEIC": sample_heic(),
        f"{GOOD_IMODEL}/broken.png": render[: len(render) // 3],  # a render cut off mid-write
        f"{FORBIDDEN_IMODEL}/render.png": render,
        "renders/render.png": render,  # not inside an iModel folder
    }


def run_demo(workdir: Path, *, keep: bool = False) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / "azurite", ignore_errors=True)  # every demo starts from empty storage
    azurite = Azurite(location=workdir / "azurite")
    azurite.location.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
    with azurite, Emulator(EmulatorConfig(forbidden=frozenset({FORBIDDEN_IMODEL}))) as emulator:
        env = local_env(azurite, emulator)
        settings = load_settings(env)
        pipeline = build_pipeline(settings)
        try:
            return _run(pipeline, settings, env, emulator.url, azurite.blob_port, workdir, keep=keep)
        finally:
            pipeline.close()


def _run(
    pipeline: Pipeline, settings: Settings, env: dict[str, str], api_url: str, port: int, workdir: Path, *, keep: bool
) -> int:
    create_containers(pipeline.blobs, settings)
    incoming = pipeline.blobs.get_container_client(settings.incoming_container)
    print(f"Azurite on 127.0.0.1:{port}, iTwin emulator on {api_url}")
    print(f"\nDropping {len(samples())} files into '{settings.incoming_container}':")
    for name, data in samples().items():
        incoming.upload_blob(name, data, overwrite=True)
        print(f"  {name} ({len(data):,} bytes)")
    print("\nDraining (the same pipeline the function runs):")
    report = drain(pipeline, on_outcome=print_outcome)
    print(report.summary())
    _show_results(pipeline.blobs, settings, api_url, workdir)
    if not keep:
        print("\nAzurite and the emulator stop now. `make run-keep` keeps them up and prints their settings.")
        return 0 if report.ok else 1
    print("\nServices stay up. In another shell, point the CLI (and az, or your own code) at them:")
    for key, value in env.items():
        print(f"  export {key}={shlex.quote(value)}")
    print("Then try: python -m shared.cli deadletter list")
    print(
        f"Drop files with any tool into '{settings.incoming_container}/{{imodelId}}/'; "
        "watching (Ctrl-C or SIGTERM stops the services too)."
    )
    watch(pipeline, on_outcome=print_outcome)
    return 0 if report.ok else 1


def _show_results(blobs: BlobServiceClient, settings: Settings, api_url: str, workdir: Path) -> None:
    out = workdir / "thumbnails"
    out.mkdir(parents=True, exist_ok=True)
    print("\nUploaded thumbnails (fetched back from the emulator):")
    for imodel_id in (GOOD_IMODEL, PHOTO_IMODEL, EXR_IMODEL, HEIC_IMODEL):
        response = requests.get(f"{api_url}/imodels/{imodel_id}/thumbnail", timeout=10)
        if response.status_code == 200:
            path = out / f"{imodel_id}.png"
            path.write_bytes(response.content)
            with Image.open(io.BytesIO(response.content)) as image:
                print(f"  {path}  {image.width}x{image.height} {image.mode}, {len(response.content):,} bytes")
    letters = DeadLetters(blobs, settings, utcnow).list()
    print(f"\nDead-letters in '{settings.deadletter_container}' (original bytes + {{name}}.error.json):")
    for entry in letters:
        print(f"  {entry.blob:<55} {entry.code}")
    if letters:
        first = next((entry for entry in letters if "api" in entry.payload), letters[0])
        print(f"\nPayload of {first.blob}:")
        print(json.dumps(first.payload, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep Azurite and the emulator running, and watch")
    parser.add_argument("--workdir", type=Path, default=Path(".local/demo"))
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_demo(args.workdir, keep=args.keep)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``kill``, a supervisor) ends the demo as Ctrl-C does: the ``with`` blocks unwind and
    stop Azurite and the emulator, which would otherwise outlive it in their own session."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
