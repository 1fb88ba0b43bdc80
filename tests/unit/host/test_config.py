# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests for reading /etc/imgbased.conf: defaults, valid values and every refused value."""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import config
from org_ovirt_imgbased.host.config import Config, load_config, parse_config


def test_missing_file_gives_defaults(tmp_path):
    """A missing file yields every default."""
    cfg = load_config(tmp_path / "imgbased.conf")
    assert (cfg.gc_keep, cfg.conflict_policy, cfg.persist_paths, cfg.max_fill_percent) == (
        config.DEFAULT_GC_KEEP, config.DEFAULT_CONFLICT_POLICY, config.DEFAULT_PERSIST_PATHS,
        config.DEFAULT_MAX_FILL_PERCENT)
    assert (config.DEFAULT_GC_KEEP, config.DEFAULT_CONFLICT_POLICY, config.DEFAULT_MAX_FILL_PERCENT) == (
        2, "keep-local", 90)
    assert cfg.hook_timeout == config.DEFAULT_HOOK_TIMEOUT == 300


def test_empty_file_and_empty_sections_give_defaults(tmp_path):
    """Sections without keys change nothing."""
    path = tmp_path / "imgbased.conf"
    path.write_text("# nothing here\n[gc]\n[update]\n[persist]\n[pool]\n")
    cfg = load_config(path)
    assert cfg == Config(source=str(path))


def test_all_values_read(tmp_path):
    """Every key is read, with comments, quoting and newlines in the persist list."""
    path = tmp_path / "imgbased.conf"
    path.write_text(
        "[gc]\nKeep = 5   # five bases\n"
        "[update]\nconflict-policy = keep-new\n"
        "[persist]\npaths = /root/.ssh /etc/ssh/ssh_host_*\n"
        "    \"/srv/my files\"\n    /root/.ssh\n"
        "[pool]\nmax-fill-percent = 75\n"
        "[hooks]\ntimeout = 60\n")
    cfg = load_config(path)
    assert cfg.hook_timeout == 60
    assert cfg.gc_keep == 5
    assert cfg.conflict_policy == "keep-new"
    assert cfg.persist_paths == ("/root/.ssh", "/etc/ssh/ssh_host_*", "/srv/my files")
    assert cfg.max_fill_percent == 75
    assert cfg.source == str(path)


@pytest.mark.parametrize("value", ["50", "77", "99"])
def test_fill_bounds_accepted(value):
    """The fill level accepts the ends of its range."""
    assert parse_config(f"[pool]\nmax-fill-percent = {value}\n").max_fill_percent == int(value)


@pytest.mark.parametrize(("section", "key", "value", "accepted"), [
    ("gc", "keep", "0", "a whole number of 1 or more"),
    ("gc", "keep", "-1", "a whole number of 1 or more"),
    ("gc", "keep", "two", "a whole number of 1 or more"),
    ("gc", "keep", "", "a whole number of 1 or more"),
    ("gc", "keep", "2.5", "a whole number of 1 or more"),
    ("update", "conflict-policy", "keep-mine", "keep-local or keep-new"),
    ("update", "conflict-policy", "", "keep-local or keep-new"),
    ("pool", "max-fill-percent", "49", "a whole number from 50 to 99"),
    ("pool", "max-fill-percent", "100", "a whole number from 50 to 99"),
    ("pool", "max-fill-percent", "90%", "a whole number from 50 to 99"),
    ("hooks", "timeout", "0", "a whole number from 1 to 86400"),
    ("hooks", "timeout", "5m", "a whole number from 1 to 86400"),
])
def test_bad_values_name_file_section_key_and_accepted(tmp_path, section, key, value, accepted):
    """A bad value raises one line naming the file, section, key and what is accepted."""
    path = tmp_path / "imgbased.conf"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ImgbaseError) as err:
        load_config(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and f"[{section}] {key}" in msg and accepted in msg


def test_fill_below_range_refused_even_if_positive():
    """1 is a whole number but below the safe fill range."""
    with pytest.raises(ImgbaseError, match="from 50 to 99"):
        parse_config("[pool]\nmax-fill-percent = 1\n", "x.conf")


@pytest.mark.parametrize(("paths", "problem"), [
    ("root/.ssh", "not an absolute path"),
    ("/", "whole root"),
    ("///", "whole root"),
    ("/etc/../root", "'..'"),
    ("/etc/./x", "'..'"),
    ("/proc/sys", "never persisted"),
    ("/boot/grub2", "never persisted"),
    ("/dev", "never persisted"),
    ("/root/.ssh 'unclosed", "No closing quotation"),
])
def test_bad_persist_paths(paths, problem):
    """Relative, root, dot-dot, pseudo-fs paths and broken quoting are refused."""
    with pytest.raises(ImgbaseError) as err:
        parse_config(f"[persist]\npaths = {paths}\n", "/etc/imgbased.conf")
    msg = str(err.value)
    assert "/etc/imgbased.conf: [persist] paths" in msg and problem in msg
    assert "\n" not in msg


def test_unknown_section_refused():
    """A section imgbased does not know is an error listing the known ones."""
    with pytest.raises(ImgbaseError, match=r"unknown section \[garbage\].*\[gc\], \[update\]"):
        parse_config("[garbage]\nx = 1\n", "c.conf")


def test_default_section_is_not_special():
    """[DEFAULT] is refused like any unknown section instead of leaking keys everywhere."""
    with pytest.raises(ImgbaseError, match=r"unknown section \[DEFAULT\]"):
        parse_config("[DEFAULT]\nkeep = 3\n[gc]\n", "c.conf")


def test_unknown_key_refused():
    """A typo in a key is reported with the keys that section accepts."""
    with pytest.raises(ImgbaseError, match=r"c\.conf: unknown key \[gc\] kep; known keys in \[gc\]: keep"):
        parse_config("[gc]\nkep = 3\n", "c.conf")


@pytest.mark.parametrize("text", ["keep = 2\n", "[gc]\nkeep = 2\nkeep = 3\n", "[gc\nkeep = 2\n",
                                  "[gc]\n[gc]\n"])
def test_syntax_errors_are_one_line(text):
    """Missing headers, duplicates and broken headers give a one-line syntax error."""
    with pytest.raises(ImgbaseError) as err:
        parse_config(text, "/etc/imgbased.conf")
    msg = str(err.value)
    assert msg.startswith("/etc/imgbased.conf: syntax error:") and "\n" not in msg


def test_percent_sign_is_not_interpolated():
    """A % in a persist path is literal."""
    assert parse_config("[persist]\npaths = /srv/100%\n").persist_paths == ("/srv/100%",)


def test_unreadable_file(tmp_path):
    """A path that cannot be read (a directory) is a clear error."""
    path = tmp_path / "imgbased.conf"
    path.mkdir()
    with pytest.raises(ImgbaseError, match="cannot read .*imgbased.conf"):
        load_config(path)


def test_not_utf8_file(tmp_path):
    """Bytes that are not UTF-8 are reported, not a traceback."""
    path = tmp_path / "imgbased.conf"
    path.write_bytes(b"[gc]\nkeep = \xff\n")
    with pytest.raises(ImgbaseError, match="cannot read"):
        load_config(path)


# --- [update] channel and signature ---------------------------------------------------------------

def test_channel_and_signature_default_to_unset():
    """No channel, and no signature policy (the default rule of host/signature.py applies)."""
    cfg = parse_config("[update]\n")
    assert (cfg.channel, cfg.signature_policy) == (None, None)


@pytest.mark.parametrize("url", ["https://updates.example.org/imgbased/", "http://10.0.0.1:8080/ch",
                                 "file:///srv/channel", "/srv/channel/index.json"])
def test_channel_urls_accepted(url):
    """http, https and file URLs and absolute paths name a channel."""
    assert parse_config(f"[update]\nchannel = {url}\n").channel == url


@pytest.mark.parametrize("policy", ["required", "if-present", "off"])
def test_signature_policies_accepted(policy):
    """Each policy of host/signature.py is read as it is."""
    assert parse_config(f"[update]\nsignature = {policy}\n").signature_policy == policy


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("channel", "ftp://mirror.example/ch", "has the scheme 'ftp'"),
    ("channel", "srv/channel", "is neither a URL nor an absolute path"),
    ("channel", "https:///ch", "names no host"),
    ("channel", '"/srv/my channel"', "contains whitespace"),
    ("signature", "yes", "use required, if-present, off"),
    ("signature", "Required", "use required, if-present, off"),
])
def test_bad_channel_and_signature_values(key, value, problem):
    """A bad channel or policy names the file, [update], the key and what is accepted."""
    with pytest.raises(ImgbaseError) as err:
        parse_config(f"[update]\n{key} = {value}\n", "/etc/imgbased.conf")
    msg = str(err.value)
    assert msg.startswith(f"/etc/imgbased.conf: [update] {key} = ") and problem in msg and "\n" not in msg
