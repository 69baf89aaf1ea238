"""With no room for a second thread, the split work runs on the calling thread, same result.

A real failure, not a mock: a fresh interpreter asks for 1 GiB stacks (``threading.stack_size``)
and caps its address space (``resource.setrlimit(RLIMIT_AS)``) 256 MiB above what it maps, so
``Thread.start`` raises ``RuntimeError`` ("can't start new thread", CPython's ``_thread`` when
``pthread_create`` fails) while the work itself fits, as in a sandbox worker near its grant.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

SCRIPT = """
import io, json, resource, threading
from PIL import Image
from shared.imaging import resize
from shared.imaging.formats.png import load_checked
from shared.imaging.png_write import write_png
from tests.imaging.factories import encode, noise

thumb = noise("RGB", (800, 450), seed=2)
frame = noise("RGB", (1600, 1000), seed=3)
png = encode(frame, "PNG", compress_level=1)
expected = (write_png(thumb, 1), frame.reduce(4).tobytes())

threading.stack_size(1 << 30)
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + 256 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
try:
    threading.Thread(target=lambda: None).start()
    no_thread = False
except RuntimeError:
    no_thread = True
written = write_png(thumb, 1)
image = Image.open(io.BytesIO(png))
load_checked(image, png)
reduced = resize._reduce(frame, 4, None)
print(json.dumps({
    "no_thread": no_thread,
    "png_same": written == expected[0],
    "loaded_same": image.tobytes() == frame.tobytes(),
    "reduced_same": reduced.tobytes() == expected[1],
}))
"""


def test_everything_split_over_threads_still_works_when_no_thread_can_start() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "no_thread": True,
        "png_same": True,
        "loaded_same": True,
        "reduced_same": True,
    }
