# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmarks' pure helpers: formats, ratios, tables, goals, parsers and the refusal without dm."""

from __future__ import annotations

import pytest

from tests.bench import bench_layout, machine, run_all
from tests.bench.report import (
    Goal,
    Section,
    fmt_mib,
    fmt_ratio,
    fmt_seconds,
    format_table,
    growth,
    median,
    median_ratio,
    ratio,
    summary,
)


def test_number_formats():
    """Seconds keep milliseconds below 10 s, ratios two decimals, sizes MiB; missing is '-'."""
    assert fmt_seconds(0.41234) == "0.412 s"
    assert fmt_seconds(12.345) == "12.3 s"
    assert fmt_ratio(1.0666) == "1.07x"
    assert fmt_mib(3 * (1 << 20) + (1 << 19)) == "3.5 MiB"
    assert fmt_seconds(None) == fmt_ratio(None) == fmt_mib(None) == "-"


def test_ratio_refuses_missing_or_zero_denominators():
    """A ratio needs both figures and a positive baseline."""
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0) is None
    assert ratio(1.0, None) is None


def test_median_ratio_compares_each_round_with_its_own_baseline():
    """Per-round ratios 1.0, 2.0, 1.5 give 1.5; not the ratio of the medians (2.0/2.0 = 1.0)."""
    pairs = [(1.0, 1.0), (4.0, 2.0), (4.5, 3.0)]
    assert median_ratio(pairs) == pytest.approx(1.5)
    assert median([1.0, None, 3.0]) == 2.0
    assert median([None]) is None


def test_table_aligns_figures_right_and_words_left():
    """Columns are padded to the widest cell; figures right-aligned, text left-aligned."""
    text = format_table(["step", "time"], [["e2fsck", "0.5 s"], ["lvcreate -s", "12.3 s"]])
    lines = text.splitlines()
    assert lines[0].startswith("step         time")
    assert set(lines[1]) <= {"-", " "}
    assert lines[2] == "e2fsck        0.5 s"
    assert lines[3] == "lvcreate -s  12.3 s"


def test_goal_verdicts():
    """At or under the limit meets; over misses; no figure is 'not measured'; no limit is 'info'."""
    assert Goal("r", 1.15, 1.15).verdict() == "meets"
    assert Goal("r", 1.16, 1.15).verdict() == "misses"
    assert Goal("r", None, 1.15).verdict() == "not measured"
    assert Goal("r", 3.0, None).verdict() == "info"
    assert Goal("t", 0.25, 0.3, "s").wanted() == "< 0.300 s"
    assert Goal("r", 1.0, 1.05).wanted() == "<= 1.05x"


def test_summary_lists_every_goal_and_broken_benchmarks():
    """The summary carries each figure with its verdict, then the benchmarks that broke."""
    text = summary([Goal("base add / dd", 1.3, 1.15), Goal("layout", 0.2, 0.3, "s")], ["layout"])
    rows = [line.split() for line in text.splitlines()[2:4]]
    assert rows[0] == ["base", "add", "/", "dd", "1.30x", "<=", "1.15x", "misses"]
    assert rows[1] == ["layout", "0.200", "s", "<", "0.300", "s", "meets"]
    assert text.endswith("benchmarks that broke (no figures): layout")


def test_section_renders_title_tables_and_notes():
    """A section prints its title, then its blocks in order."""
    section = Section("1. demo")
    section.table(["a", "b"], [["x", "1"]], "caption")
    section.note("a note")
    text = section.render()
    assert text.index("1. demo") < text.index("caption") < text.index("a note")


def test_growth_orders_steps_by_added_time():
    """Growth from the smallest to the largest size, biggest first; missing figures are skipped."""
    parts = {1: {"fsck": 0.5, "tune2fs": 0.2, "alt": None}, 50: {"fsck": 2.5, "tune2fs": 0.3, "alt": 1.0}}
    assert [(s, round(d, 3)) for s, d in growth(parts)] == [("fsck", 2.0), ("tune2fs", 0.1)]
    assert growth({1: {"fsck": 0.5}}) == []


def test_pool_used_from_lvs_report():
    """data_percent x size, from one pool row; anything else is an error."""
    report = {"report": [{"lv": [{"lv_size": "8589934592", "data_percent": "5.00"}]}]}
    assert machine.pool_used_from_report(report) == 429496729
    with pytest.raises(machine.BenchError):
        machine.pool_used_from_report({"report": [{"lv": []}]})


def test_ext4_used_from_dumpe2fs():
    """(blocks - free) x block size, and the filesystem size."""
    text = "Filesystem volume name:   <none>\nBlock count:              524288\n" \
           "Free blocks:              400000\nBlock size:               4096\n"
    assert machine.ext4_used_from_dumpe2fs(text) == (524288 * 4096, 124288 * 4096)
    with pytest.raises(machine.BenchError):
        machine.ext4_used_from_dumpe2fs("Block size: 4096\n")


def test_partition_paths():
    """Disks ending in a digit get a 'p' before the partition number."""
    assert machine.partition_path("/dev/vdb", 2) == "/dev/vdb2"
    assert machine.partition_path("/dev/loop0", 1) == "/dev/loop0p1"
    assert machine.partition_path("/dev/nvme0n1", 1) == "/dev/nvme0n1p1"


def test_accel_lines_always_carry_the_tcg_caveat():
    """The caveat is always printed; the lab's hint and systemd's guess when present."""
    lines = machine.accel_lines({}, None)
    assert "TCG emulation unless KVM" in lines[0]
    assert lines[1] == "IMGBASED_VM_ACCEL is not set"
    lines = machine.accel_lines({"IMGBASED_VM_ACCEL": "tcg"}, "qemu")
    assert lines[1] == "IMGBASED_VM_ACCEL=tcg"
    assert lines[2].startswith("systemd-detect-virt: qemu")


def test_layout_script_tags_bases_and_layers_like_imgbase():
    """10 bases and 90 layers; bases inactive with activation skip, layers thin snapshots -kn."""
    lines = bench_layout.lvm_script("vg0").splitlines()
    assert len(lines) == 100
    assert lines[0] == "lvcreate -q --thin -V 1G -an -ky -n Base-0 --addtag imgbased:base vg0/pool00"
    assert lines[1] == "lvcreate -q -s -kn -n Base-0.1 --addtag imgbased:layer vg0/Base-0"
    assert lines[-1] == "lvcreate -q -s -kn -n Base-9.9 --addtag imgbased:layer vg0/Base-9"


def test_run_all_refuses_without_device_mapper(monkeypatch, capsys):
    """Without device-mapper run_all says so on one line and exits 2, touching nothing."""
    monkeypatch.setattr(run_all, "has_device_mapper", lambda: False)
    monkeypatch.setattr(run_all, "prepare_disk", lambda disk: pytest.fail("must not touch the disk"))
    assert run_all.main(["--disk", "/dev/null"]) == 2
    err = capsys.readouterr().err
    assert "no device-mapper" in err and "make bench" in err


def test_run_all_refuses_outside_the_vm_lab(monkeypatch, capsys):
    """With device-mapper and root but not in the lab, it will not wipe a disk without --force."""
    monkeypatch.setattr(run_all, "has_device_mapper", lambda: True)
    monkeypatch.setattr(run_all.os, "geteuid", lambda: 0)
    monkeypatch.delenv("IMGBASED_IN_VM", raising=False)
    assert run_all.main(["--disk", "/dev/null"]) == 2
    assert "refusing to wipe /dev/null" in capsys.readouterr().err


def test_bytecode_env_caches_in_a_prefix_or_never(monkeypatch, tmp_path):
    """With a directory, bytecode goes there and may be written; with None, it is never cached."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", "/elsewhere")
    cached = machine.bytecode_env(tmp_path)
    assert cached["PYTHONPYCACHEPREFIX"] == str(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in cached
    cold = machine.bytecode_env(None)
    assert cold["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "PYTHONPYCACHEPREFIX" not in cold
