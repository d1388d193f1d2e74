import pytest

from labagent.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize("text,expected", [
    ("100MiB", 100 * 1024 ** 2), ("10M", 10 * 1024 ** 2), ("4096", 4096), ("1GiB", 1024 ** 3),
    ("512kib", 512 * 1024), ("1.5MiB", 1572864),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1MiB", "10 parsecs", "1.3B"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_duration():
    assert parse_duration("1") == 1.0
    assert parse_duration("0.2s") == 0.2
    assert parse_duration("10ms") == 0.01
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_format_size():
    assert format_size(100 * 1024 ** 2) == "100MiB"
    assert format_size(104861696) == "102404KiB"
    assert format_size(4100) == "4100B"
    assert format_size(4096) == "4KiB"
