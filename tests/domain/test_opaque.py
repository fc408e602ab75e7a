"""Sealed keys: the same key always seals alike, opens only as its own kind, and a text that was
not sealed opens as nothing; the secret is made once in the data dir when none is set."""

from __future__ import annotations

import stat
import string

from domain.opaque import MAX_KEY, seal, unseal
from jobtower.settings import Settings


def test_a_sealed_key_opens_as_its_kind_and_key_only():
    sealed = seal("Job", 42)
    assert sealed == seal("Job", 42) and len(sealed) == 22
    assert unseal(sealed, ("Record", "Job")) == ("Job", 42)
    assert unseal(sealed, ("Record",)) is None
    assert unseal(seal("Job", MAX_KEY), ("Job",)) == ("Job", MAX_KEY)
    assert seal("Job", 1) != seal("Job", 2) != seal("Record", 2)


def test_text_that_was_not_sealed_opens_as_nothing():
    sealed = seal("Job", 42)
    # The last character holds 2 bits of the block and 4 unused ones: each other one is refused.
    others = [sealed[:-1] + last for last in string.ascii_letters + string.digits + "-_" if last != sealed[-1]]
    for text in (*others, sealed[::-1], "Sm9iOjQy", "", "é" * 22, None, 42):
        assert unseal(text, ("Job",)) is None, text


def test_without_a_secret_setting_the_first_start_makes_one_in_the_data_dir(tmp_path):
    made = Settings(data_dir=tmp_path / "data", id_secret=None).resolved_id_secret()
    assert len(made) == 64
    assert Settings(data_dir=tmp_path / "data", id_secret=None).resolved_id_secret() == made
    assert stat.S_IMODE((tmp_path / "data" / "id-secret").stat().st_mode) == 0o600
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["id-secret"]
    assert Settings(data_dir=tmp_path / "data", id_secret="shared").resolved_id_secret() == b"shared"
