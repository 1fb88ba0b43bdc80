# SPDX-License-Identifier: GPL-2.0-or-later
"""The staging directory's records: round trip, broken records, strays, exact removal, safe names."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import download, staging
from org_ovirt_imgbased.runner import Runner, stale_temps

IMAGE = b"image bytes " * 100
SHA = hashlib.sha256(IMAGE).hexdigest()


@pytest.fixture
def area(tmp_path) -> Path:
    """A staging directory holding the image file 'node-4.5.img' (no record yet)."""
    path = tmp_path / "images"
    path.mkdir()
    (path / "node-4.5.img").write_bytes(IMAGE)
    return path


def stage(area: Path, name: str = "node-4.5.img", version: str = "4.5", **kwargs) -> staging.Staged:
    """Record name (made with IMAGE when missing) as a staged image."""
    if not (area / name).exists():
        (area / name).write_bytes(IMAGE)
    fields = {"url": f"https://updates.example/{name}", "version": version, "sha256": SHA, "size": len(IMAGE),
              **kwargs}
    return staging.save(Runner(), area, name, **fields)


def test_staging_dir_is_made_root_only_under_the_state_dir(tmp_path, monkeypatch):
    """IMGBASED_STATE_DIR/images, 0700; a dry runner only says it would make it."""
    monkeypatch.setenv("IMGBASED_STATE_DIR", str(tmp_path / "state"))
    out = io.StringIO()
    assert staging.staging_dir(Runner(dry=True, out=out)) == tmp_path / "state/images"
    assert not (tmp_path / "state").exists() and "mkdir" in out.getvalue()
    path = staging.staging_dir()
    assert path == tmp_path / "state/images" and path.stat().st_mode & 0o777 == 0o700


def test_a_record_round_trips(area):
    """save writes the signature and the record; list_staged reads back the same Staged."""
    saved = stage(area, signature=b"SIG", signer="ABCD1234", downloaded_at="2026-01-02T03:04:05+00:00")
    assert (area / "node-4.5.img.sig").read_bytes() == b"SIG"
    record = json.loads((area / "node-4.5.img.json").read_text())
    assert record == {"url": "https://updates.example/node-4.5.img", "name": "node-4.5.img", "version": "4.5",
                      "sha256": SHA, "size": len(IMAGE), "signature": "node-4.5.img.sig", "signer": "ABCD1234",
                      "downloaded_at": "2026-01-02T03:04:05+00:00"}
    assert staging.list_staged(area) == [saved]
    assert staging.problems(area) == [] and stale_temps(area / "node-4.5.img.json") == []


def test_save_refuses_what_does_not_match_the_file(area):
    """A size that is not the file's, a missing file or a bad sha256 is refused; no record is written."""
    with pytest.raises(ImgbaseError, match=f"is {len(IMAGE)} bytes, the record says 5"):
        staging.save(Runner(), area, "node-4.5.img", url="u", version="4.5", sha256=SHA, size=5)
    with pytest.raises(ImgbaseError, match="missing or wrong sha256"):
        staging.save(Runner(), area, "node-4.5.img", url="u", version="4.5", sha256="abc", size=len(IMAGE))
    with pytest.raises(ImgbaseError, match="other.img is missing"):
        staging.save(Runner(), area, "other.img", url="u", version="1", sha256=SHA, size=1)
    assert sorted(os.listdir(area)) == ["node-4.5.img"]


@pytest.mark.parametrize("name", ["", "a/b", "../x", ".hidden", "x.json", "x.part", "x.sig", "n\nl", "x" * 201])
def test_unsafe_names_are_refused(area, name):
    """One plain file name only: no slash, no leading dot, no ending that means another staged file."""
    with pytest.raises(ImgbaseError, match="cannot name a staged image"):
        staging.save(Runner(), area, name, url="u", version="1", sha256=SHA, size=len(IMAGE))


def write_record(path: Path, **changes) -> None:
    """Write the record path as save writes it, with fields changed (None leaves one out)."""
    record = {"url": "u", "name": path.name[:-5], "version": "1", "sha256": SHA, "size": len(IMAGE),
              "signature": None, "signer": None, "downloaded_at": "2026-01-01T00:00:00+00:00", **changes}
    path.write_text(json.dumps({k: v for k, v in record.items() if v is not None}))


@pytest.mark.parametrize("damage,words", [
    (lambda p: p.write_text("{not json"), "it is not JSON"),
    (lambda p: p.write_text("[1]"), "it is not a JSON object"),
    (lambda p: write_record(p, version=None), "missing or wrong version"),
    (lambda p: write_record(p, name="other"), "missing or wrong name"),
    (lambda p: write_record(p, size=True), "missing or wrong size"),
    (lambda p: write_record(p, size=3), f"is {len(IMAGE)} bytes, the record says 3"),
    (lambda p: write_record(p, signature="node-4.5.img.sig"), "signature .* is missing"),
    (lambda p: (p.parent / "node-4.5.img").unlink(), "its image .*node-4.5.img is missing"),
])
def test_broken_records_are_left_out_and_reported(area, damage, words):
    """A broken record is not listed; scan and problems say why, in one line with what to do."""
    stage(area)
    stage(area, "good.img")
    damage(area / "node-4.5.img.json")
    assert [s.name for s in staging.list_staged(area)] == ["good.img"]
    [broken] = staging.scan(area)[1]
    assert broken.path == area / "node-4.5.img.json"
    assert staging.problems(area) == [broken.reason]
    assert "\n" not in broken.reason and broken.reason.endswith("remove it and download the image again")
    assert re.search(words, broken.reason), broken.reason


def test_problems_name_files_that_belong_to_nothing(area):
    """A file without a record, a lone download description; a partial download is no problem."""
    stage(area)
    (area / "stray.img").write_bytes(b"x")
    (area / "old.img.part.json").write_text("{}")
    (area / "next.img.part").write_bytes(b"12345")
    (area / "next.img.part.json").write_text(json.dumps({"url": "https://u/next.img", "expected_size": 9}))
    assert staging.problems(area) == [
        f"{area / 'old.img.part.json'} belongs to no staged image or download; remove it",
        f"{area / 'stray.img'} belongs to no staged image or download; remove it"]
    assert staging.partials(area) == [staging.Partial(area, "next.img", 5, "https://u/next.img", 9)]


def test_partials_of_a_real_interrupted_download(area):
    """partials reads what host.download leaves: the bytes present and the URL."""
    dest = area / "next.img"
    download.part_path(dest).write_bytes(b"abc")
    Runner().write_file(download.sidecar_path(dest), json.dumps({"url": "http://h/next.img"}))
    [partial] = staging.partials(area)
    assert (partial.name, partial.present, partial.url, partial.expected_size) == ("next.img", 3, "http://h/next.img",
                                                                                   None)
    staging.remove(partial, Runner())
    assert sorted(os.listdir(area)) == ["node-4.5.img"]


def test_remove_removes_exactly_the_files_of_the_record(area):
    """The image, its signature and its record go; neighbours with similar names stay."""
    staged = stage(area, signature=b"SIG")
    neighbours = ["node-4.5.img.bak", "node-4.5.img.part", "node-4.5", "other.sig"]
    for name in neighbours:
        (area / name).write_bytes(b"keep")
    other = stage(area, "other.img")
    out = io.StringIO()
    staging.remove(staged, Runner(dry=True, out=out))
    assert out.getvalue().count("dry: remove") == 3 and staging.list_staged(area) == [staged, other]
    staging.remove(staged, Runner())
    assert sorted(os.listdir(area)) == sorted(neighbours + ["other.img", "other.img.json"])


def test_remove_refuses_a_directory_where_a_file_should_be(area):
    """A directory named like the image is not removed (nor anything else)."""
    staged = stage(area)
    (area / "node-4.5.img").unlink()
    (area / "node-4.5.img").mkdir()
    with pytest.raises(ImgbaseError, match="is a directory, not a file of a staged image; nothing removed"):
        staging.remove(staged, Runner())
    assert sorted(os.listdir(area)) == ["node-4.5.img", "node-4.5.img.json"]


def numeric(a: str, b: str) -> int:
    """Compare dotted numeric versions (the shape of channel.compare_versions)."""
    x, y = [int(p) for p in a.split(".")], [int(p) for p in b.split(".")]
    return (x > y) - (x < y)


def test_newest_uses_the_version_compare_and_the_latest_download_on_a_tie(area):
    """1.10 beats 1.9 (not by text); among equal versions the later download wins; none gives None."""
    stage(area, "a.img", "1.9")
    stage(area, "b.img", "1.10", downloaded_at="2026-01-01T00:00:00+00:00")
    stage(area, "c.img", "1.10", downloaded_at="2026-02-01T00:00:00+00:00")
    stage(area, "d.img", "1.2")
    assert staging.newest(staging.list_staged(area), numeric).name == "c.img"
    assert staging.newest([], numeric) is None
