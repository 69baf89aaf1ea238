"""Memory admission without real images: threads, a budget, and the bookkeeping they must respect."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from PIL import Image

from shared.imaging import ImageInfo, MemoryBudget, estimate_decode_bytes, probe
from shared.imaging import resize as resize_module
from shared.imaging.admission import (
    FIXED_OVERHEAD_BYTES,
    ROW_POINTER_BYTES,
    STRIPS_ALIVE,
    bytes_per_pixel,
    strips_bytes,
)
from shared.imaging.modes import resizable_converter
from tests.imaging.factories import encode, png_bomb, reopen

MB = 1024 * 1024


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.001)


class Ledger:
    """Records what is admitted at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = 0
        self.jobs = 0
        self.peak_held = 0
        self.oversized_with_company = 0

    def enter(self, size: int, capacity: int) -> None:
        with self.lock:
            self.held += size
            self.jobs += 1
            self.peak_held = max(self.peak_held, self.held)
            if self.held > capacity and self.jobs > 1:
                self.oversized_with_company += 1

    def leave(self, size: int) -> None:
        with self.lock:
            self.held -= size
            self.jobs -= 1


def test_concurrent_jobs_never_exceed_the_budget():
    capacity = 100
    budget = MemoryBudget(capacity)
    ledger = Ledger()
    rng = random.Random(3)
    sizes = [rng.choice([5, 10, 20, 40, 60, 100, 150]) for _ in range(120)]
    errors: list[BaseException] = []

    def job(size: int) -> None:
        try:
            with budget.admit(size):
                ledger.enter(size, capacity)
                time.sleep(rng.random() * 0.002)
                ledger.leave(size)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(size,)) for size in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert all(not thread.is_alive() for thread in threads)
    # Never more than the budget, except a single oversized (150) job running alone.
    assert ledger.oversized_with_company == 0
    assert ledger.peak_held <= 150
    assert (budget.in_use, budget.running, budget.waiting) == (0, 0, 0)


def test_job_bigger_than_the_budget_runs_alone_instead_of_deadlocking():
    budget = MemoryBudget(100)
    small_in = threading.Event()
    release_small = threading.Event()
    big_done = threading.Event()
    order: list[str] = []
    company: list[int] = []

    def small() -> None:
        with budget.admit(30):
            order.append("small")
            small_in.set()
            release_small.wait(5)

    def big() -> None:
        with budget.admit(500):
            order.append("big")
            company.append(budget.running)
        big_done.set()

    threading.Thread(target=small).start()
    assert small_in.wait(5)
    threading.Thread(target=big).start()
    wait_until(lambda: budget.waiting == 1)
    assert not big_done.is_set()  # waits for the small job to finish
    release_small.set()
    assert big_done.wait(5)
    assert order == ["small", "big"]
    assert company == [1]  # it ran alone


def test_waiting_big_job_is_not_starved_by_later_small_ones():
    budget = MemoryBudget(100)
    first_in = threading.Event()
    release_first = threading.Event()
    release_big = threading.Event()
    order: list[str] = []
    lock = threading.Lock()

    def run(name: str, size: int, hold: threading.Event | None = None, entered: threading.Event | None = None) -> None:
        with budget.admit(size):
            with lock:
                order.append(name)
            if entered is not None:
                entered.set()
            if hold is not None:
                hold.wait(5)

    threads = [threading.Thread(target=run, args=("first", 40, release_first, first_in))]
    threads[0].start()
    assert first_in.wait(5)
    threads.append(threading.Thread(target=run, args=("big", 100, release_big)))
    threads[-1].start()
    wait_until(lambda: budget.waiting == 1)
    # These would fit next to "first" (40 + 10 <= 100) but arrived after the big job.
    for index in range(5):
        threads.append(threading.Thread(target=run, args=(f"small{index}", 10)))
        threads[-1].start()
    wait_until(lambda: budget.waiting == 6)
    assert order == ["first"]
    release_first.set()
    wait_until(lambda: "big" in order)
    assert budget.running == 1  # the big job holds the whole budget: the small ones still wait
    release_big.set()
    for thread in threads:
        thread.join(5)
    assert order[:2] == ["first", "big"]
    assert sorted(order[2:]) == [f"small{index}" for index in range(5)]


def test_timeout_leaves_the_queue_and_lets_the_next_in():
    budget = MemoryBudget(100)
    with budget.admit(90):
        with pytest.raises(TimeoutError), budget.admit(50, timeout=0.05):
            pass  # never admitted
        assert budget.waiting == 0
        with budget.admit(10, timeout=1):
            assert budget.in_use == 100
    assert budget.in_use == 0


def test_budget_is_released_when_the_job_fails():
    budget = MemoryBudget(10)
    with pytest.raises(RuntimeError), budget.admit(8):
        raise RuntimeError("decode failed")
    assert (budget.in_use, budget.running) == (0, 0)


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        MemoryBudget(0)
    with pytest.raises(ValueError, match="negative"), MemoryBudget(10).admit(-1):
        pass


# -- the estimate --------------------------------------------------------------------------------


def test_bytes_per_pixel_follow_pillows_storage():
    assert [bytes_per_pixel(mode) for mode in ("1", "L", "P", "I;16", "RGB", "RGBA", "CMYK", "LA", "F")] == [
        1,
        1,
        1,
        2,
        4,
        4,
        4,
        4,
        4,
    ]


def test_estimate_for_a_hand_made_info_is_the_full_size_worst_case():
    info = ImageInfo(format="PNG", width=7680, height=4320, mode="RGB")
    bitmap = 7680 * 4320 * 4
    # Decoded bitmap, plus three unreduced working copies (converted, resampled, final).
    # And Pillow's pointer to each row (8 bytes a row: large only for absurdly tall images).
    assert estimate_decode_bytes(info) == 4 * bitmap + ROW_POINTER_BYTES * 4320 + FIXED_OVERHEAD_BYTES


def test_estimate_for_an_8k_png_counts_bitmap_reduced_copy_and_strips(limits):
    info = probe(png_bomb(7680, 4320), limits)  # header only: a valid 8K RGB PNG header
    assert info.reduce_factor == 4
    bitmap = 7680 * 4320 * 4
    reduced = 1920 * 1080 * 4
    rows = 2 * (7680 * 3 + 1)  # the PNG decoder's previous and current scanline (8-bit RGB)
    assert info.decoder_bytes == rows
    # The reduced copy twice: the reduced image and the resample's intermediate (at most as large).
    expected = bitmap + ROW_POINTER_BYTES * 4320 + 2 * reduced + strips_bytes(7680, 4) + rows + FIXED_OVERHEAD_BYTES
    assert estimate_decode_bytes(info) == expected
    assert strips_bytes(7680, 4) <= STRIPS_ALIVE * resize_module.STRIP_BYTES  # ordinary widths: the target


def test_estimate_for_jpeg_uses_the_draft_scale(limits):
    data = encode(Image.new("RGB", (7680, 4320), (9, 9, 9)), "JPEG")
    info = probe(data, limits)
    assert info.decode_scale == 4
    drafted = 1920 * 1080 * 4
    # Decoded at 1/4, not converted (an RGB JPEG is resized as decoded), two thumbnail-sized copies.
    assert info.target == (800, 450)
    thumbnail = 800 * 450 * 4
    assert estimate_decode_bytes(info) == drafted + 2 * thumbnail + ROW_POINTER_BYTES * 1080 + FIXED_OVERHEAD_BYTES
    assert estimate_decode_bytes(info) < 50 * MB  # against 133 MB for the full-size bitmap


def test_estimate_for_16bit_gray_counts_two_bytes_a_pixel(limits):
    info = ImageInfo(format="PNG", width=1000, height=1000, mode="I;16", reduce_factor=2)
    expected = 2_000_000 + ROW_POINTER_BYTES * 1000 + 2 * 500 * 500 * 4 + strips_bytes(1000, 2) + FIXED_OVERHEAD_BYTES
    assert estimate_decode_bytes(info) == expected


def test_estimate_covers_the_strips_reduce_allocates_for_a_very_wide_image(limits):
    # A strip is at least ``factor`` rows, so at 40000 pixels wide and 1/25 one strip would be 4 MB
    # of RGBA, twice the 2 MiB target.  Count what ``_reduce`` really converts, tile by tile.
    width, height = 40000, 300
    image = Image.new("P", (width, height), 1)
    image.putpalette([0, 0, 0, 200, 30, 30])
    data = encode(image, "PNG", transparency=0)
    info = probe(data, limits)
    assert info.reduce_factor == 25
    decoded = reopen(data)
    convert = resizable_converter(decoded)
    assert convert is not None  # palette with transparency: to RGBA, then premultiplied
    strip_sizes: list[int] = []

    def counting(strip: Image.Image) -> Image.Image:
        strip_sizes.append(strip.width * strip.height * 4)
        return convert(strip)

    reduced = resize_module._reduce(decoded, info.reduce_factor, counting)
    largest = max(strip_sizes)
    # 25 full rows would be 4 MB; the image is converted in tiles of whole 25x25 blocks instead,
    # so no tile is over the target by more than one block column.
    assert len(strip_sizes) > height // 25
    assert largest <= resize_module.STRIP_BYTES + 25 * 25 * 4
    assert reduced.tobytes() == convert(decoded).reduce(25).tobytes()  # tiling changes no pixel
    needed = width * height * bytes_per_pixel("P") + reduced.width * reduced.height * 4
    assert estimate_decode_bytes(info) >= needed + STRIPS_ALIVE * largest + FIXED_OVERHEAD_BYTES
