"""open_store picks the adapter from ROSTER_STORE; the key encoding keeps prefixes."""

from __future__ import annotations

import pytest

from shared.store import open_store
from shared.store.azure_tables import AzureTablesStore
from shared.store.keys import decode_key, encode_key, prefix_end, prefix_end_utf16
from shared.store.sqlite import SqliteStore


def test_open_store_picks_the_adapter(tmp_path, monkeypatch, azurite):
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/nested/roster.db")
    assert isinstance(relative, SqliteStore) and (tmp_path / "data/nested/roster.db").exists()
    relative.close()
    absolute = open_store(f"sqlite:///{tmp_path}/abs/roster.db")
    assert isinstance(absolute, SqliteStore) and (tmp_path / "abs/roster.db").exists()
    absolute.close()

    emulator = open_store(azurite)
    assert isinstance(emulator, AzureTablesStore)
    assert emulator.table("OpenStoreCheck").get("p", "r") is None
    emulator.close()
    for url in ["UseDevelopmentStorage=true", "https://acct.table.core.windows.net"]:
        remote = open_store(url)
        assert isinstance(remote, AzureTablesStore)
        remote.close()

    for bad in ["", "postgres://x", "https://example.com", "sqlite:///"]:
        with pytest.raises(ValueError, match="ROSTER_STORE"):
            open_store(bad)


@pytest.mark.parametrize(
    "key", ["", "plain", "a/b\\c#d?e%f", "\x00\x1f\x7f\x80\x9f", "é 日本 😀", "%25"]
)
def test_keys_round_trip_and_keep_prefixes(key):
    encoded = encode_key(key)
    assert decode_key(encoded) == key
    assert not any(c in encoded for c in "/\\#?") and all(ord(c) >= 0x20 for c in encoded)
    for cut in range(len(key) + 1):
        assert encoded.startswith(encode_key(key[:cut]))


@pytest.mark.parametrize(
    ("prefix", "code_point", "utf16"),
    [
        ("ab", "ac", "ac"),
        ("a\uffff", "a\U00010000", "b"),
        ("a\U0001f600", "a\U0001f601", "a\U0001f601"),
        ("a\ud7ff", "a\ue000", "a\U00010000"),
        ("a\U000103ff", "a\U00010400", "a\U00010400"),
        ("a\U0010ffff", "b", "a\ue000"),
        ("", None, None),
    ],
)
def test_prefix_upper_bounds(prefix, code_point, utf16):
    assert prefix_end(prefix) == code_point
    assert prefix_end_utf16(prefix) == utf16
