"""labagent.report.model: the writeup's figures, computed from the seed's and this machine's runs."""
from __future__ import annotations

import dataclasses

import pytest

from labagent import parsers, record
from labagent.report import model, render

MIB = 1024 * 1024


# --------------------------------------------------------------------------- formatting

@pytest.mark.parametrize("value,digits,text", [
    (104861696, 0, "104,861,696"), (0, 0, "0"), (-4884, 0, "-4,884"), (0.5555, 2, "0.56"),
    (1843.2, 1, "1,843.2"), (None, 0, None)])
def test_num(value, digits, text):
    assert model.num(value, digits) == text


@pytest.mark.parametrize("value,text", [(102404, "+102,404"), (0, "0"), (-4884, "-4,884"), (None, None)])
def test_signed(value, text):
    assert model.signed(value) == text


def test_sizes_and_times():
    assert model.hexaddr(0x7FDAF4600000) == "0x7fdaf4600000"
    assert model.size_text(100 * MIB) == "100 MiB"
    assert model.size_text(4096) == "4 KiB"
    assert model.size_text(4100) == "4100 B"
    assert model.mib_text(90 * MIB) == "90 MiB"
    assert model.mib_text(104861696) == "100.0 MiB"
    assert model.seconds_text(17.0) == "17"
    assert model.seconds_text(0.5) == "0.5"
    assert model.seconds_text(1.039462) == "1.04"
    assert model.seconds_text(None) is None
    # 2024-12-09 03:19:44 UTC, shown on a UTC host and on a UTC+09:00 host
    assert model.clock_text(1733714384.0, 0) == "03:19:44"
    assert model.clock_text(1733714384.7, 9 * 3600) == "12:19:44"


def test_code_block_fence_outgrows_backticks_inside():
    block = model.code_block("a ``` b\n", "sh", "raw/x", "cat x")
    assert block["fence"] == "````"
    assert block["body"] == "$ cat x\na ``` b\n"
    assert model.code_block("no newline")["body"] == "no newline\n"
    assert model.code_block(None) is None


def test_free_cell():
    text = ("               total        used        free      shared  buff/cache   available\n"
            "Mem:            30Gi       675Mi        29Gi       8.0Mi       539Mi        29Gi\n"
            "Swap:             0B          0B          0B\n")
    assert model.free_cell(text, "used") == "675Mi"
    assert model.free_cell(text, "available") == "29Gi"
    assert model.free_cell(None, "used") is None


# --------------------------------------------------------------------------- captures

def test_maps_diff_marks_new_and_replaced_lines():
    before = "00400000-00401000 r--p 0 00:00 0 /a\n7f0000003000-7f0000004000 rw-p 0 00:00 0 \n"
    after = ("00400000-00401000 r--p 0 00:00 0 /a\n7f0000000000-7f0000004000 rw-p 0 00:00 0 \n"
             "7f0000005000-7f0000006000 rw-p 0 00:00 0 \n")
    assert model.maps_diff(before, after).splitlines() == [
        " 00400000-00401000 r--p 0 00:00 0 /a",
        "-7f0000003000-7f0000004000 rw-p 0 00:00 0 ",
        "+7f0000000000-7f0000004000 rw-p 0 00:00 0 ",
        "+7f0000005000-7f0000006000 rw-p 0 00:00 0 ",
    ]


def test_sar_clock():
    assert model.sar_clock("03:19:52 AM  31040884  31183588") == (3 * 3600 + 19 * 60 + 52, True)
    assert model.sar_clock("12:00:01 AM kbmemfree   kbavail") == (1, False)
    assert model.sar_clock("01:00:00 PM  1") == (13 * 3600, True)
    assert model.sar_clock("22:07:09     23862348") == (22 * 3600 + 7 * 60 + 9, True)
    assert model.sar_clock("Average:     31037791") is None
    assert model.sar_clock("Linux 5.14.0 (host) \t12/09/2024") is None


SAR = """Linux 6.1.0 (h) \t11/25/26 \t_x86_64_\t(2 CPU)

23:59:58    kbmemfree   kbavail kbmemused
23:59:58     100  200  300
23:59:59     101  201  301
00:00:00     102  202  302
00:00:01     103  203  303
00:00:05     104  204  304

Average:     102  202  302
"""


def test_sar_by_phase_places_rows_by_local_time_across_midnight():
    # 2026-11-25 23:59:58 UTC+01:00 is 22:59:58 UTC.
    day = 1795651200  # 2026-11-26 00:00:00 UTC
    offset = 3600
    start = day - 3600 - 2  # local 23:59:58
    windows = [model.PhaseWindow("baseline", start + 0.4, start + 1.6),
               model.PhaseWindow("allocated", start + 1.6, start + 3.8)]
    split = model.sar_by_phase(SAR, windows, offset)
    # a row labelled 23:59:59 was taken within that second, most likely before 23:59:59.6
    assert split["phases"]["baseline"].splitlines() == [
        "Linux 6.1.0 (h) \t11/25/26 \t_x86_64_\t(2 CPU)", "23:59:58    kbmemfree   kbavail kbmemused",
        "23:59:58     100  200  300", "23:59:59     101  201  301"]
    assert split["phases"]["allocated"].splitlines()[2:] == ["00:00:00     102  202  302", "00:00:01     103  203  303"]
    assert split["rows"] == {"baseline": 2, "allocated": 2}
    assert (split["before"], split["after"]) == (0, 1)  # 00:00:05 is after the last phase


def test_sar_rows_are_placed_at_sars_start_fraction_of_the_second():
    """sar -r 1 samples once a second from its start: a start at .285 gives rows at .285 of their second.
    A phase that began at .315 of a second does not get that second's row (it was taken 30 ms before)."""
    day = 1795651200
    offset = 0
    start = day - 2  # 23:59:58 UTC
    windows = [model.PhaseWindow("baseline", start + 0.1, start + 1.315),
               model.PhaseWindow("allocated", start + 1.315, start + 3.8)]
    split = model.sar_by_phase(SAR, windows, offset, started_wall=start - 1 + 0.285)
    assert split["phases"]["baseline"].splitlines()[2:] == ["23:59:58     100  200  300", "23:59:59     101  201  301"]
    assert split["phases"]["allocated"].splitlines()[2:] == ["00:00:00     102  202  302", "00:00:01     103  203  303"]
    # Without the start, the middle of the second: 23:59:59 is then taken at .5, inside `allocated`.
    assert model.sar_by_phase(SAR, windows, offset)["rows"] == {"baseline": 1, "allocated": 3}
    # Rows run SAR_LAG_S behind the start (sadc starts first): a start at .995 puts the row labelled
    # 23:59:59 at .005 of that second, one at .96 at .97 of it.
    first_local = start + 0.1
    for fraction, placed in ((0.995, 0.005), (0.05, 0.06), (0.96, 0.97), (0.0, 0.01)):
        assert model._sar_wall(86399, first_local, 0, started_wall=start - 5 + fraction) == pytest.approx(
            start + 1 + placed, abs=1e-6)


def test_sar_by_phase_repeats_each_captures_column_header(seed_dir):
    inp = render.read_host(seed_dir, "seed-rhel94")
    split = model.sar_by_phase(inp.raw["sar-r.txt"], model._windows(inp.data), 0)
    allocated = split["phases"]["allocated"].splitlines()
    # rows from the note's second and third sar captures, each under its own header line
    assert [line[:11] for line in allocated] == [
        "Linux 5.14.", "03:20:11 AM", "03:20:12 AM", "03:20:13 AM", "03:20:14 AM", "03:20:15 AM",
        "03:20:16 AM", "03:20:21 AM", "03:20:22 AM", "03:20:23 AM"]
    assert split["rows"] == {"baseline": 5, "allocated": 7, "touching": 9, "touched": 1, "exited": 1}


def test_capture_highlights_find_the_original_lines(seed_dir):
    inp = render.read_host(seed_dir, "seed-rhel94")
    marks = model.capture_highlights(inp.raw["capture.log"])
    assert marks["jump"]["line"] == "Mon Dec  9 03:20:01 AM UTC 2024:    5034 allocate        105036  1280      0     83"
    assert (marks["jump"]["vsz_before"], marks["jump"]["vsz_after"], marks["jump"]["rss_same"]) == ("2,632", "105,036", True)
    assert marks["growth"]["line"] == "Mon Dec  9 03:20:25 AM UTC 2024:    5034 allocate        105036 11880      0     93"
    assert (marks["growth"]["rss_before"], marks["growth"]["rss_after"]) == ("1,280", "11,880")
    assert marks["finished"].endswith("target process seems to be finished")
    assert model.capture_highlights("not a capture line\n")["jump"] is None


# --------------------------------------------------------------------------- the numbers

def test_expected_faults_seed_region():
    # 7fdaee1ff000-7fdaf4600000, pointer +0x10, 90 MiB written: 1 head page + 45 huge pages
    start, end = 0x7FDAEE1FF000, 0x7FDAF4600000
    expected = model.expected_faults(start, end, start + 16, 90 * MIB, 4096)
    assert expected == {"base": 23041, "huge": 46}


def test_expected_faults_unaligned_mapping_and_no_huge_room():
    # a mapping with no whole 2 MiB range inside faults page by page either way
    assert model.expected_faults(0x1000, 0x101000, 0x1010, 8192, 4096) == {"base": 3, "huge": 3}
    assert model.expected_faults(0x1000, 0x2000, 0x1000, 0, 4096) == {"base": None, "huge": None}


def test_agent_and_equivalent_commands():
    assert model.agent_command(["/x/labagent/__main__.py", "run", "--size", "100MiB", "--out", "/tmp/a b"]) == \
        "python3 -m labagent run --size 100MiB --out '/tmp/a b'"
    assert model.agent_command(["labagent.pyz", "run"]) == "python3 labagent.pyz run"
    assert model.agent_command([]) is None
    params = record.RunParams(size_bytes=100 * MIB, step_bytes=10 * MIB, step_interval_s=1.0, sample_interval_s=0.5,
                              pause_s=None, tail_s=2.0, variant="calloc", force=False, ask_imds=True, timeout_s=None)
    assert model.equivalent_command(params) == ("python3 -m labagent run --size 100MiB --step 10MiB --step-interval 1 "
                                                 "--sample-interval 0.5 --tail 2 --variant calloc --out DIR")


def test_note_texts_pick_the_language():
    notes = ["plain", {"en": "english", "ja": "日本語"}, {"en": "only english"}]
    assert model.note_texts(notes, "ja") == ["plain", "日本語", "only english"]
    assert model.note_texts(notes, "en") == ["plain", "english", "only english"]
    assert model.note_texts(None, "en") == []


# --------------------------------------------------------------------------- host views

@pytest.fixture
def seed_view(seed_dir):
    return model.host_view(render.read_host(seed_dir, "seed-rhel94"), "en")


def test_seed_region_is_mmap_not_heap(seed_view):
    region = seed_view["region"]
    assert (region["start_hex"], region["end_hex"], region["size"]) == ("0x7fdaee1ff000", "0x7fdaf4600000", "104,861,696")
    assert (region["requested"], region["extra"], region["extra_pages"]) == ("104,857,600", "4,096", 1)
    assert (region["pointer_hex"], region["pointer_offset_hex"], region["chunk_header"]) == ("0x7fdaee1ff010", "0x10", True)
    assert region["new"] and region["anonymous"] and not region["in_heap"] and region["above_threshold"]
    assert region["line"] == "7fdaee1ff000-7fdaf4600000 rw-p 00000000 00:00 0"
    assert seed_view["heap"] == {"before": "02283000-022a4000", "after": "02283000-022a4000", "changed": False,
                                 "delta": "0", "size": "135,168"}
    assert seed_view["stack"]["range"] == "7ffc1713c000-7ffc1715d000" and seed_view["stack"]["inside"]


def test_seed_vsz_rss_commit(seed_view):
    malloc = seed_view["malloc"]
    assert (malloc["vsz_before"], malloc["vsz_after"], malloc["vsz_delta"]) == ("2,632", "105,036", "+102,404")
    assert malloc["vsz_is_region"] and malloc["rss_still"] and malloc["rss_delta"] == "0"
    commit = seed_view["commit"]
    assert (commit["before"], commit["after"], commit["delta"]) == ("276,652", "378,672", "+102,020")
    assert (commit["sar_before"], commit["sar_after"]) == ("276,652", "378,672")
    assert commit["about_size"] and commit["used_small"]
    assert (commit["free_used_before"], commit["free_used_after"]) == ("675Mi", "677Mi")
    assert commit["exit_returned"] and commit["exited"] == "275,884"


def test_seed_faults_are_huge_pages(seed_view):
    touch = seed_view["touch"]
    assert (touch["min_flt_before"], touch["min_flt_after"], touch["min_flt_count"]) == ("83", "133", "50")
    assert (touch["text"], touch["partial"], touch["mode"]) == ("90 MiB", True, "huge")
    assert (touch["faults_per_mib"], touch["granularity"]) == ("0.56", "1,843.2")
    assert (touch["expected_base"], touch["expected_huge"], touch["extra_over_expected"]) == ("23,041", "46", "+4")
    assert not touch["anon_huge_captured"] and not touch["steps_have_ms"]
    assert [s["min_flt_delta"] for s in touch["steps"]] == ["+10"] + ["+5"] * 8


def test_seed_phases_and_sar(seed_view):
    phases = {p["name"]: p for p in seed_view["phases"]}
    assert [p["name"] for p in seed_view["phases"]] == ["baseline", "allocated", "touching", "touched", "exited"]
    assert (phases["allocated"]["start"], phases["allocated"]["clock_start"]) == ("17", "03:20:01")
    assert phases["allocated"]["maps_diff"]["body"].count("\n+") == 1
    assert "+7fdaee1ff000-7fdaf4600000 rw-p" in phases["allocated"]["maps_diff"]["body"]
    assert phases["touching"]["sar"]["body"].startswith("$ sar -r 1\nLinux 5.14.0-427.20.1.el9_4.x86_64")
    assert seed_view["captures"]["ps_aux"]["body"].startswith("$ ps aux | grep allocate\n")
    assert seed_view["captures"]["source"] is None and seed_view["reproduce"]["agent_command"] is None
    assert len(seed_view["notes"]) == 4


def test_debian_region_merged_with_neighbour(debian_dir):
    view = model.host_view(render.read_host(debian_dir, "debian12-madvise"))
    region = view["region"]
    assert not region["new"]
    assert region["grown"]["range"] == "7fc3d3ecc000-7fc3d3ecf000" and region["grown"]["size"] == "12,288"
    assert (region["size"], region["added"], region["extra"]) == ("104,873,984", "104,861,696", "4,096")
    assert view["touch"]["mode"] == "base" and view["touch"]["thp_enabled"] == "madvise"
    assert (view["touch"]["expected_base"], view["touch"]["min_flt_count"]) == ("25,601", "25,603")
    assert view["touch"]["anon_huge_peak"] == "0"
    # other activity on the machine raised the commit charge after the exit
    assert not view["commit"]["exit_returned"]
    assert view["reproduce"]["agent_command"].startswith("python3 -m labagent run --size 100MiB")


def test_madv_hugepage_run_counts_huge_pages(hugepage_dir):
    view = model.host_view(render.read_host(hugepage_dir, "debian12-madv-hugepage"))
    assert view["alloc"] == {"variant": "madv-hugepage", "call": "mmap", "via_malloc": False, "direct_mmap": True,
                             "populate": False, "small": False, "madvise": "MADV_HUGEPAGE",
                             "fullspeed": False, "free": False}
    touch = view["touch"]
    assert (touch["mode"], touch["min_flt_count"], touch["expected_huge"]) == ("huge", "53", "50")
    assert touch["anon_huge_steps"] and touch["anon_huge_peak"] == "102,400"
    assert [s["anon_huge_kib"] for s in touch["steps"]][:2] == ["10,240", "20,480"]
    assert view["region"]["pointer_offset"] == "0" and not view["region"]["chunk_header"]


def test_huge_page_size_follows_the_page_size():
    assert [model.huge_page_size(p) // MIB for p in (4096, 16384, 65536)] == [2, 32, 512]


def test_killed_run_uses_the_last_step(killed_dir):
    inp = render.read_host(killed_dir, "debian12-killed")
    assert inp.data.samples, "load_record fills samples from samples.jsonl"
    view = model.host_view(inp)
    assert not view["complete"]
    assert view["outcome"]["reason"] == "the workload was killed by SIGKILL during touching"
    assert view["outcome"]["phase"] is None  # the reason names it already
    assert view["phases_missing"] == ["touched", "exited"]
    touch = view["touch"]
    assert touch["from_step"] and touch["mode"] == "base" and touch["text"] == "30 MiB"
    assert (touch["rss_after"], touch["min_flt_after"]) == ("32,372", "7,746")
    assert touch["maj_flt_delta"] is None


def test_summary_of_recomputes_a_missing_analysis(debian_dir):
    data = render.read_host(debian_dir, "h").data
    kept = data.summary
    again = model.summary_of(dataclasses.replace(data, summary={}))
    for key in ("vsz_delta_kib", "min_flt_touch", "fault_mode", "committed_as_delta_kib", "region", "heap"):
        assert again[key] == kept[key]


def test_series_keeps_gaps_and_phases(seed_dir):
    series = model.series(render.read_host(seed_dir, "s").data)
    assert len(series["t"]) == len(series["rss_kib"]) == 51
    assert series["vsz_kib"][0] == 2632 and series["committed_as_kib"][0] is None  # no sar row at 03:19:44
    assert [p[0] for p in series["phases"]] == ["baseline", "allocated", "touching", "touched", "exited"]
    assert series["touch_start"] == 40.0 and series["fault_mode"] == "huge"


# --------------------------------------------------------------------------- the index

def test_host_rows_and_index(seed_dir):
    data = render.read_host(seed_dir, "h2").data
    ok = model.host_row("h2", data, {"status": "ok", "reason": None})
    assert (ok["ok"], ok["link"], ok["mode"], ok["faults_per_mib"], ok["commit_delta"]) == \
        (True, "h2/README.md", "huge", "0.56", "+102,020")
    failed = model.host_row("h3", None, {"status": "failed", "reason": "gcc not found"})
    lost = model.host_row("h4", None, None)
    assert (failed["status"], failed["reason"], failed["link"]) == ("failed", "gcc not found", None)
    assert (lost["status"], lost["reason"]) == ("failed", "no results")
    view = model.index_view("run-1", None, [ok, failed, lost], plotted=True)
    assert (view["run_id"], view["count"], view["ok"], view["has_run_json"]) == ("run-1", 3, 1, False)
    assert [r["name"] for r in view["problems"]] == ["h3", "h4"]
    assert [r["name"] for r in view["compared"]] == ["h2"]


def test_parsers_agree_with_the_view_on_the_seed_maps(seed_dir):
    # the view's region line is a real line of the maps capture
    inp = render.read_host(seed_dir, "s")
    lines = inp.raw["maps-allocated.txt"].splitlines()
    view = model.host_view(inp)
    assert view["region"]["line"] in lines
    assert parsers.parse_maps(view["region"]["line"])[0].size_bytes == 104_861_696


def test_rss_anon_and_file_split_the_rss_at_malloc_and_over_the_writes(thp_always_dir):
    """debian12-thp-always: RSS +68 KiB at malloc is RssAnon +4 (one page: the chunk header's) and
    RssFile +64; over the writes RssAnon grew by the 25,600 new pages and one page more."""
    h = model.host_view(render.read_host(thp_always_dir, "debian12-thp-always"))
    assert (h["malloc"]["rss_delta"], h["malloc"]["rss_anon_delta"], h["malloc"]["rss_file_delta"]) == ("+68", "+4", "+64")
    assert h["malloc"]["anon_one_page"] and h["region"]["chunk_header"]
    assert (h["touch"]["rss_anon_delta"], h["touch"]["rss_file_delta"]) == ("+102,404", "+128")
    assert (h["split"]["new_pages"], h["split"]["new_kib"], h["split"]["anon_extra_pages"]) == ("25,600", "102,400", "1")


def test_without_rss_anon_the_header_page_is_labelled_inferred(seed_dir):
    h = model.host_view(render.read_host(seed_dir, "seed-rhel94"))
    assert h["malloc"]["rss_anon_delta"] is None and not h["malloc"]["anon_one_page"]
    assert h["split"]["anon_extra_pages"] is None


@pytest.mark.parametrize("kernel, rule", [
    ("5.14.0-427.20.1.el9_4.x86_64", "never"), ("6.6.58", "never"), ("6.7.0", "large"), ("6.11.11-300.fc41", "large"),
    ("6.12.1", "multiple"), ("6.18.44-fc-v595", "multiple"), ("", None), (None, None), ("unknown", None)])
def test_the_thp_alignment_rule_follows_the_kernel_version(kernel, rule):
    assert model.kernel_thp_alignment(kernel) == rule


def test_the_seed_unaligned_paragraph_names_only_the_pre_67_rule(seed_dir):
    view = model.host_view(render.read_host(seed_dir, "seed-rhel94"))
    assert view["host"]["thp_alignment"] == "never"
    text = render.environment("en").get_template("host.md.j2").render(h=view, langs=["en"])
    assert "kernels\nbefore 6.7 never align them" in text and "since 6.12" not in text


def test_ps_command_reads_the_argv_that_ran():
    ps = ("USER       PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
          "root     15891  0.0  0.0   2476  1408 ?        Ss   23:24   0:00 /tmp/x/allocate -s 20971520 -v calloc -c 5\n")
    assert model.ps_command(ps, 15891) == "/tmp/x/allocate -s 20971520 -v calloc -c 5"
    assert model.ps_command(ps, 1) is None and model.ps_command(None, 15891) is None
