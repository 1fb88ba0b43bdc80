# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests for the record-level merge of passwd, group, shadow and gshadow."""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.persist.accounts import merge_account_texts, merge_accounts, merge_members, parse_table

BASE_PASSWD = """root:x:0:0:root:/root:/bin/bash
bin:x:1:1:bin:/bin:/sbin/nologin
polkitd:x:997:997:polkit:/:/sbin/nologin
games:x:12:100:games:/usr/games:/sbin/nologin
"""
BASE_GROUP = """root:x:0:
bin:x:1:
wheel:x:10:
users:x:100:
adm:x:4:bin,daemon
polkitd:x:997:
"""
BASE_SHADOW = """root:$6$imagehash:19000:0:99999:7:::
bin:*:19000:0:99999:7:::
polkitd:!!:19000::::::
games:*:19000:0:99999:7:::
"""


def users(text: str) -> dict[str, list[str]]:
    """Records of a merged file by name."""
    return parse_table(text).records


def merge(local_passwd: str, new_passwd: str, local_group: str = BASE_GROUP, new_group: str = BASE_GROUP,
          policy: str = "keep-local", base: bool = True):
    """Merge passwd and group texts against the base ones."""
    base_texts = {"passwd": BASE_PASSWD, "group": BASE_GROUP} if base else None
    return merge_account_texts(base_texts, {"passwd": local_passwd, "group": local_group},
                               {"passwd": new_passwd, "group": new_group}, policy)


def test_untouched_files_merge_to_the_new_image():
    """With no local change the result is the new image's records."""
    new = BASE_PASSWD.replace("games:x:12:100:games:/usr/games", "games:x:12:100:Games:/usr/games")
    res = merge(BASE_PASSWD, new)
    assert users(res.texts["passwd"]) == users(new)
    assert res.conflicts == [] and res.uid_map == {}


def test_local_user_kept_and_new_system_user_added():
    """A local user stays with its IDs; a system user the new image adds is taken."""
    local = BASE_PASSWD + "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
    new = BASE_PASSWD + "chrony:x:994:994::/var/lib/chrony:/sbin/nologin\n"
    res = merge(local, new)
    recs = users(res.texts["passwd"])
    assert recs["alice"] == ["alice", "x", "1000", "1000", "Alice", "/home/alice", "/bin/bash"]
    assert recs["chrony"][2] == "994"
    assert res.texts["passwd"].splitlines()[-1].startswith("chrony:")
    assert res.conflicts == []


def test_uid_collision_keeps_local_id_and_renumbers_new_account():
    """A new system user wanting a local user's uid gets a free one, reported as a conflict."""
    local = BASE_PASSWD + "myagent:x:999:999::/opt/agent:/sbin/nologin\n"
    new = BASE_PASSWD + "chrony:x:999:990::/var/lib/chrony:/sbin/nologin\n"
    lgroup = BASE_GROUP + "myagent:x:999:\n"
    ngroup = BASE_GROUP + "chrony:x:990:\n"
    res = merge(local, new, lgroup, ngroup)
    recs = users(res.texts["passwd"])
    assert recs["myagent"][2] == "999"
    assert recs["chrony"][2] == "998"  # highest free system uid (999 local, 997 polkitd)
    assert res.uid_map == {999: 998}
    assert any("chrony" in m and "999" in m and "myagent" in m for _, m in res.conflicts)
    assert recs["chrony"][3] == "990"  # its group did not collide


def test_gid_collision_renumbers_group_and_primary_gid_of_new_user():
    """A new group colliding with a local group moves, and the new user's primary gid follows."""
    lgroup = BASE_GROUP + "docker:x:990:alice\n"
    ngroup = BASE_GROUP + "chrony:x:990:\n"
    new = BASE_PASSWD + "chrony:x:994:990::/var/lib/chrony:/sbin/nologin\n"
    res = merge(BASE_PASSWD, new, lgroup, ngroup)
    groups = users(res.texts["group"])
    assert groups["docker"][2] == "990" and groups["chrony"][2] == "999"
    assert res.gid_map == {990: 999}
    assert users(res.texts["passwd"])["chrony"][3] == "999"
    assert [f for f, _ in res.conflicts] == ["group"]


def test_uid_drift_keeps_local_id_and_maps_new_layer_files():
    """The same system user with another uid in the new image keeps the local uid."""
    new = BASE_PASSWD.replace("polkitd:x:997:997", "polkitd:x:996:997")
    res = merge(BASE_PASSWD, new)
    assert users(res.texts["passwd"])["polkitd"][2] == "997"
    assert res.uid_map == {996: 997}
    assert res.conflicts == []
    assert any("polkitd" in m and "996" in m for _, m in res.notes)


def test_swapped_ids_map_both_ways():
    """Two drifted accounts swapping numbers give a swap map, applied at once by the caller."""
    base = BASE_PASSWD + "a:x:900:900::/:/sbin/nologin\nb:x:901:901::/:/sbin/nologin\n"
    new = BASE_PASSWD + "a:x:901:900::/:/sbin/nologin\nb:x:900:901::/:/sbin/nologin\n"
    res = merge_account_texts({"passwd": base}, {"passwd": base}, {"passwd": new})
    assert res.uid_map == {901: 900, 900: 901}


def test_drift_onto_a_local_id_and_new_account_taking_the_freed_number():
    """A drifted account's local id wanted by a new account: the new account moves."""
    new = BASE_PASSWD.replace("polkitd:x:997:997", "polkitd:x:995:997") + "sssd:x:997:997::/:/sbin/nologin\n"
    res = merge(BASE_PASSWD, new)
    recs = users(res.texts["passwd"])
    assert recs["polkitd"][2] == "997" and recs["sssd"][2] == "999"
    assert res.uid_map == {995: 997, 997: 999}
    assert len({r[2] for r in recs.values()}) == len(recs)


def test_field_conflict_under_both_policies():
    """A shell changed on both sides follows the policy and is reported."""
    local = BASE_PASSWD.replace("root:/root:/bin/bash", "root:/root:/bin/zsh")
    new = BASE_PASSWD.replace("root:/root:/bin/bash", "root:/root:/bin/fish")
    kept = merge(local, new, policy="keep-local")
    taken = merge(local, new, policy="keep-new")
    assert users(kept.texts["passwd"])["root"][6] == "/bin/zsh"
    assert users(taken.texts["passwd"])["root"][6] == "/bin/fish"
    for res in (kept, taken):
        assert len(res.conflicts) == 1 and "shell" in res.conflicts[0][1]


def test_one_sided_field_changes_combine():
    """A local gecos change and a new-image home change both land."""
    local = BASE_PASSWD.replace("games:x:12:100:games:", "games:x:12:100:Local games:")
    new = BASE_PASSWD.replace(":/usr/games:", ":/var/games:")
    res = merge(local, new)
    assert users(res.texts["passwd"])["games"] == ["games", "x", "12", "100", "Local games", "/var/games",
                                                   "/sbin/nologin"]
    assert res.conflicts == []


def test_group_members_merged():
    """Members added locally and by the new image are kept; removals by the new image apply."""
    local = BASE_GROUP.replace("wheel:x:10:", "wheel:x:10:alice").replace("adm:x:4:bin,daemon",
                                                                           "adm:x:4:bin,daemon,alice")
    new = BASE_GROUP.replace("wheel:x:10:", "wheel:x:10:svc").replace("adm:x:4:bin,daemon", "adm:x:4:bin")
    res = merge(BASE_PASSWD, BASE_PASSWD, local, new)
    groups = users(res.texts["group"])
    assert groups["wheel"][3] == "alice,svc"
    assert groups["adm"][3] == "bin,alice"
    assert res.conflicts == []


def test_merge_members_without_base_is_a_union():
    """Both sides added the group: members are the union, local order first."""
    assert merge_members(None, "a,b", "b,c") == "a,b,c"
    assert merge_members("", "", "") == ""


def test_locally_deleted_user_stays_deleted_unless_new_image_changed_it():
    """userdel survives an update; a conflicting change only returns under keep-new."""
    local = BASE_PASSWD.replace("games:x:12:100:games:/usr/games:/sbin/nologin\n", "")
    assert "games" not in users(merge(local, BASE_PASSWD).texts["passwd"])
    changed = BASE_PASSWD.replace(":/usr/games:", ":/var/games:")
    kept = merge(local, changed)
    taken = merge(local, changed, policy="keep-new")
    assert "games" not in users(kept.texts["passwd"])
    assert users(taken.texts["passwd"])["games"][5] == "/var/games"
    assert len(kept.conflicts) == 1 and len(taken.conflicts) == 1


def test_user_removed_by_new_image():
    """Dropped by the new image: gone unless changed locally (then a conflict)."""
    new = BASE_PASSWD.replace("games:x:12:100:games:/usr/games:/sbin/nologin\n", "")
    assert "games" not in users(merge(BASE_PASSWD, new).texts["passwd"])
    local = BASE_PASSWD.replace("/usr/games:/sbin/nologin", "/usr/games:/bin/bash")
    kept = merge(local, new)
    assert users(kept.texts["passwd"])["games"][6] == "/bin/bash"
    assert len(kept.conflicts) == 1
    assert "games" not in users(merge(local, new, policy="keep-new").texts["passwd"])


def test_shadow_follows_passwd_and_hides_hashes():
    """Local password kept, new user's entry added, deleted user's entry dropped, no hash printed."""
    lpass = BASE_PASSWD.replace("games:x:12:100:games:/usr/games:/sbin/nologin\n", "") + \
        "alice:x:1000:1000::/home/alice:/bin/bash\n"
    npass = BASE_PASSWD + "chrony:x:994:994::/var/lib/chrony:/sbin/nologin\n"
    lshadow = BASE_SHADOW.replace("root:$6$imagehash:", "root:$6$LOCALSECRET:").replace(
        "games:*:19000:0:99999:7:::\n", "") + "alice:$6$ALICESECRET:19500:0:99999:7:::\n"
    nshadow = BASE_SHADOW.replace("root:$6$imagehash:19000", "root:$6$NEWIMAGEHASH:19600") + \
        "chrony:!!:19600::::::\n"
    res = merge_account_texts({"passwd": BASE_PASSWD, "shadow": BASE_SHADOW},
                              {"passwd": lpass, "shadow": lshadow},
                              {"passwd": npass, "shadow": nshadow})
    shadow = users(res.texts["shadow"])
    assert shadow["root"][1] == "$6$LOCALSECRET"
    assert shadow["alice"][1] == "$6$ALICESECRET"
    assert "chrony" in shadow and "games" not in shadow
    assert res.conflicts, "root's password changed on both sides"
    for _, message in res.conflicts + res.notes:
        assert "SECRET" not in message and "HASH" not in message and "$6$" not in message


def test_gshadow_follows_group():
    """A group dropped by the new image loses its gshadow entry; members merge there too."""
    bgs = "wheel:::\nold:!::\n"
    lgs = "wheel:::alice\nold:!::\n"
    ngs = "wheel:::svc\n"
    ngroup = BASE_GROUP + ""
    bgroup = BASE_GROUP + "old:x:800:\n"
    res = merge_account_texts({"group": bgroup, "gshadow": bgs}, {"group": bgroup, "gshadow": lgs},
                              {"group": ngroup, "gshadow": ngs})
    gs = users(res.texts["gshadow"])
    assert "old" not in gs and "old" not in users(res.texts["group"])
    assert gs["wheel"][3] == "alice,svc"


def test_no_factory_copy_local_wins_without_conflicts():
    """base None: every local record is kept as is, new accounts added, IDs still protected."""
    local = BASE_PASSWD.replace("/root:/bin/bash", "/root:/bin/zsh") + "alice:x:1000:1000::/home/a:/bin/sh\n"
    new = BASE_PASSWD.replace("polkitd:x:997:997", "polkitd:x:996:997") + \
        "chrony:x:1000:994::/:/sbin/nologin\n"
    res = merge(local, new, base=False)
    recs = users(res.texts["passwd"])
    assert recs["root"][6] == "/bin/zsh" and recs["polkitd"][2] == "997"
    assert recs["chrony"][2] == "1001" and recs["alice"][2] == "1000"
    assert res.uid_map == {996: 997, 1000: 1001}
    assert len(res.conflicts) == 1  # only the ID collision


def test_comments_nis_lines_and_duplicates_stay_in_place():
    """Opaque lines keep their local position; a duplicate name is kept verbatim."""
    local = "# local accounts\nroot:x:0:0:root:/root:/bin/bash\n\n+@admins::::::\nroot:x:0:0:dup:/:/bin/sh\n"
    res = merge_account_texts({"passwd": "root:x:0:0:root:/root:/bin/bash\n"}, {"passwd": local},
                              {"passwd": "root:x:0:0:root:/root:/bin/bash\n"})
    assert res.texts["passwd"] == local


def test_only_files_present_on_both_sides_are_merged():
    """A file missing on one side is left to the file-level rules."""
    res = merge_account_texts({}, {"passwd": BASE_PASSWD}, {"passwd": BASE_PASSWD, "group": BASE_GROUP})
    assert set(res.texts) == {"passwd"}


def test_unknown_policy_refused():
    """Only keep-local and keep-new exist."""
    with pytest.raises(ImgbaseError, match="keep-local or keep-new"):
        merge_account_texts({}, {}, {}, "keep-both")


def test_merge_accounts_reads_directories_and_keeps_bytes(tmp_path):
    """The file-level entry point reads regular files only and round-trips non-UTF-8 bytes."""
    dirs = {name: tmp_path / name for name in ("factory", "old", "new")}
    for d in dirs.values():
        d.mkdir()
        (d / "passwd").write_text(BASE_PASSWD)
    (dirs["old"] / "passwd").write_bytes(BASE_PASSWD.encode() + b"j\xf6rg:x:1001:1001::/home/j:/bin/sh\n")
    (dirs["old"] / "group").symlink_to("/etc/group")
    (dirs["new"] / "group").write_text(BASE_GROUP)
    res = merge_accounts(dirs["factory"], dirs["old"], dirs["new"])
    assert set(res.texts) == {"passwd"}
    raw = res.texts["passwd"].encode("utf-8", "surrogateescape")
    assert raw.endswith(b"j\xf6rg:x:1001:1001::/home/j:/bin/sh\n")
