"""The worker process: ``python -m shared.sandbox.worker``, one job at a time, under limits.

Started by :class:`shared.sandbox.pool.SandboxedImages` with pipes on stdin and stdout.  Pillow and
the image stage are imported once, at start-up; then each job is

1. a header naming the operation, the limits and the address space it is granted,
2. the address-space limit (``RLIMIT_AS``) set to what this process already maps plus the input
   and the grant, *before* the input is read, so even receiving the bytes is inside the limit,
3. the input bytes, read straight into one ``bytes`` object,
4. ``probe`` or ``normalize``; the reply (a header, and the PNG) goes back on the channel,
5. the limit lifted again, to the hard limit (which is never changed, so an unprivileged process
   may, and a finite one set by the host is kept).

The wall-clock limit is the host's job: it kills a worker that does not answer in time.  A job that
runs out of memory is answered with ``ImageTooComplex`` and the worker then exits, so its
successor starts with a clean heap.  Anything written to fd 1 by a library would corrupt the
channel, so the channel is a duplicate of fd 1 and fd 1 itself is pointed at stderr; during a job both
go to a spill file, of which at most 64 KiB reach stderr (``shared.sandbox.output``).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any, NoReturn

from shared.core.errors import ErrorCode, ThumbnailError
from shared.imaging.failures import image_error
from shared.imaging.formats import opening_bytes, preload
from shared.imaging.limits import ImageLimits
from shared.imaging.normalize import normalize
from shared.imaging.probe import probe
from shared.sandbox.frames import (
    ChannelClosedError,
    error_to_json,
    info_from_json,
    info_to_json,
    read_header,
    read_payload,
    thumbnail_to_json,
    write_frame,
)
from shared.sandbox.output import bounded_output
from shared.sandbox.procfs import reset_peak_rss, status_bytes

_PAGE = os.sysconf("SC_PAGE_SIZE")


def address_space_bytes() -> int:
    """This process's mapped address space now (what ``RLIMIT_AS`` counts)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * _PAGE


def set_address_limit(limit: int | None) -> None:
    """Cap the address space at ``limit``, or with ``None`` lift the cap back to the hard limit.

    The hard limit is left as it is: a host may run us under a finite one (``ulimit -v``, a
    container), and a soft limit above it is refused.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = hard if limit is None else limit
    soft = ceiling if hard == resource.RLIM_INFINITY else min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_job(header: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes | None]:
    """One probe or normalize: the reply header, and the PNG for a thumbnail."""
    limits = ImageLimits(**header["limits"])
    if header["op"] == "probe":
        return {"info": info_to_json(probe(data, limits))}, None
    if header["op"] == "normalize":
        thumb = normalize(data, limits, info_from_json(header["info"]))
        return {"thumbnail": thumbnail_to_json(thumb)}, thumb.data
    raise ValueError(f"unknown operation {header['op']!r}")


Job = Callable[[dict[str, Any], bytes], tuple[dict[str, Any], bytes | None]]


def serve(channel_in: IO[bytes], channel_out: IO[bytes], run: Job = run_job, spill: IO[bytes] | None = None) -> int:
    """Answer jobs until the host closes the pipe; the exit status (0, or 3 after running out of
    memory).

    The bytes of a successful probe are kept until the next job: the host sends the normalize that
    follows with ``reuse`` and no payload, so a 40 MB PNG crosses the pipe once, not twice.
    """
    held = b""
    spill = spill or tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
    write_frame(channel_out, {"ready": True, "pid": os.getpid(), "address_space": address_space_bytes()})
    while True:
        try:
            header = read_header(channel_in)
        except ChannelClosedError:
            return 0
        _preload(header)
        limit = address_space_bytes() + int(header["size"]) + int(header["grant"])
        reset_peak_rss()
        rss_before = status_bytes("VmRSS")
        started = time.perf_counter()
        reply: dict[str, Any]
        payload: bytes | None = None
        retire = False
        try:
            set_address_limit(limit)
            data = held if header.get("reuse") else read_payload(channel_in, header)
            held = b""
            if header["op"] == "probe":  # opening a WebP allocates its canvases (the cap bounds them)
                limit += min(opening_bytes(data), int(header["limits"].get("decode_cap_bytes", 0)))
                set_address_limit(limit)
            with bounded_output(spill):
                reply, payload = run(header, data)
            if header["op"] == "probe":
                held = data
        except ThumbnailError as error:
            if error.details.get("limit") == "memory":  # a MemoryError the image stage turned into a code
                error.details["memory_limit_bytes"] = limit
                retire = True
            reply = {"error": error_to_json(error)}
        except MemoryError as exc:
            reply = {"error": error_to_json(_out_of_memory(header, limit, started, exc))}
            retire = True
        except ChannelClosedError:
            return 0
        except Exception as exc:  # a bug or a library's surprise: the host decides
            reply = {"unexpected": f"{type(exc).__name__}: {exc}"}
        finally:
            data = b""
            set_address_limit(None)
        reply.update(
            seconds=time.perf_counter() - started,
            limit=limit,
            peak=status_bytes("VmPeak"),
            peak_rss=status_bytes("VmHWM"),
            rss_before=rss_before,
            reused=bool(header.get("reuse")),
        )
        write_frame(channel_out, {**reply, "retire": retire}, payload)
        if retire:
            return 3


def _preload(header: dict[str, Any]) -> None:
    """Load a normalize job's decoder libraries before its limit is set (``formats.preload``)."""
    info = header.get("info") if header.get("op") == "normalize" else None
    if isinstance(info, dict):
        preload(info.get("format"), bool(info.get("hdr")))


def _out_of_memory(header: dict[str, Any], limit: int, started: float, exc: MemoryError) -> ThumbnailError:
    """``ImageTooComplex`` for a job that hit its address-space limit, with what is known of it."""
    info = info_from_json(header["info"]) if header.get("info") else None
    return image_error(
        ErrorCode.IMAGE_TOO_COMPLEX,
        f"decoding needs more memory than the {limit // 2**20:,} MiB address space allowed for this image "
        f"({header['op']} ran out after {time.perf_counter() - started:.1f} s: {str(exc) or type(exc).__name__})",
        info,
        limit="memory",
        memory_limit_bytes=limit,
        seconds=round(time.perf_counter() - started, 3),
        bytes=int(header["size"]) or None,  # None: a reused payload; the info says its size
    )


def main(run: Job = run_job) -> int:
    """Serve on stdin/stdout.  ``run`` is the job table: ``run_job`` in production (tests pass one
    with extra operations that misbehave on purpose)."""
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print from a library goes to stderr, not into the channel
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, channel_out, run)


def exit_now(status: int) -> NoReturn:
    """End the process without the interpreter's teardown (tens of ms with numpy loaded, which the
    host waits for when it closes the worker).  Every reply was flushed when it was written, and
    stderr is flushed here; nothing else is buffered."""
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
