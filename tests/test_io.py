import os

import pytest

from embedlab import io


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "x.json"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert not target.exists()
    assert os.listdir(target.parent) == []


def test_json_is_deterministic_and_readable(tmp_path):
    io.write_json(tmp_path / "a.json", {"b": "证券", "a": [1, 2]})
    first = (tmp_path / "a.json").read_bytes()
    io.write_json(tmp_path / "a.json", {"b": "证券", "a": [1, 2]})
    assert (tmp_path / "a.json").read_bytes() == first
    assert "证券" in first.decode()
    assert io.read_json(tmp_path / "a.json") == {"b": "证券", "a": [1, 2]}
    assert oct((tmp_path / "a.json").stat().st_mode & 0o777) != oct(0o600)
