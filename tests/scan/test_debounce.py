from entryscan.device.scan.debounce import Debouncer


def test_code_held_in_view_is_one_scan() -> None:
    d = Debouncer(3.0)
    assert d.admit(b"A", 0.0)
    assert not any(d.admit(b"A", t / 10) for t in range(1, 60))  # 6 s continuously in view


def test_code_returning_within_window_is_the_same_scan_after_window_a_new_one() -> None:
    d = Debouncer(3.0)
    assert d.admit(b"A", 0.0)
    assert not d.admit(b"A", 2.9)
    assert d.admit(b"A", 6.0)
    assert d.admit(b"B", 6.1)


def test_memory_is_bounded_under_a_flood_of_codes() -> None:
    d = Debouncer(3.0, max_tracked=50)
    for i in range(10_000):
        d.admit(str(i).encode(), i * 0.001)
    assert len(d._last_seen) <= 51
