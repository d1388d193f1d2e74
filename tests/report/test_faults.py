"""labagent.report.faults.split on the figures of three real runs of 100 MiB written 10 MiB at a time
(this machine, kernel 6.18): how the minor faults add up to the measured min_flt."""
from labagent.report import faults

MIB, PAGE, PMD = 1024 * 1024, 4096, 2 * 1024 * 1024


def test_thp_always_with_the_mapping_aligned_the_header_brought_the_first_huge_page_at_malloc():
    # 7f24f8000000-7f24fe404000: the header's write at malloc faulted in its 2 MiB page (AnonHugePages
    # 2,048 KiB at allocated); the writes took 49 more, the 4 KiB tail page, and 4 others: 54.
    start = 0x7f24f8000000
    fs = faults.split(start, 0x7f24fe404000, start + 16, 100 * MIB, 54, PAGE, PMD, anon_huge_peak_kib=102400,
                      header_resident=True, huge_mode=True, anon_huge_before_kib=2048)
    assert (fs.huge_faults, fs.resident_huge, fs.head_pages, fs.tail_pages, fs.fallback_pages) == (49, 1, 0, 1, 0)
    assert (fs.base_faults, fs.other_faults, fs.written_pages, fs.resident_pages, fs.new_pages) == (1, 4, 25601, 512, 25089)
    assert not fs.header_in_head
    # Without the AnonHugePages before the writes (a run recorded before it was kept), the old reading: 50 + 1 + 3.
    old = faults.split(start, 0x7f24fe404000, start + 16, 100 * MIB, 54, PAGE, PMD, 102400, True, True)
    assert (old.huge_faults, old.base_faults, old.other_faults) == (50, 1, 3)


def test_thp_always_with_the_mapping_unaligned_the_head_and_tail_fault_page_by_page():
    # 7f31919f6000-7f3197dfa000: 10 head pages (the header's resident), 49 huge pages, 503 tail pages.
    start = 0x7f31919f6000
    fs = faults.split(start, 0x7f3197dfa000, start + 16, 100 * MIB, 565, PAGE, PMD, anon_huge_peak_kib=100352,
                      header_resident=True, huge_mode=True, anon_huge_before_kib=0)
    assert (fs.huge_faults, fs.resident_huge, fs.head_pages, fs.tail_pages, fs.other_faults) == (49, 0, 9, 503, 4)
    assert fs.header_in_head and fs.resident_pages == 1 and fs.new_pages == 25600


def test_thp_madvise_one_fault_per_new_page():
    start = 0x7f2eafd94000
    fs = faults.split(start, 0x7f2eb6198000, start + 16, 100 * MIB, 25604, PAGE, PMD, anon_huge_peak_kib=0,
                      header_resident=True, huge_mode=False, anon_huge_before_kib=0)
    assert not fs.huge_used and (fs.base_faults, fs.other_faults, fs.new_pages) == (25600, 4, 25600)
