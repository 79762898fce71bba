"""The host facts auto's rule reads: a core's L1 data cache from sysfs, with a fallback."""

from fastconv.engine import host


def _cache_index(root, name, level, kind, size):
    index = root / name
    index.mkdir()
    (index / "level").write_text(f"{level}\n")
    (index / "type").write_text(f"{kind}\n")
    (index / "size").write_text(f"{size}\n")


def test_the_l1_data_cache_is_read_from_sysfs(tmp_path):
    _cache_index(tmp_path, "index0", 1, "Data", "48K")
    _cache_index(tmp_path, "index1", 1, "Instruction", "32K")
    _cache_index(tmp_path, "index2", 2, "Unified", "2048K")
    assert host.l1_data_bytes(str(tmp_path)) == 48 * 1024


def test_the_instruction_cache_and_other_levels_are_skipped(tmp_path):
    _cache_index(tmp_path, "index0", 1, "Instruction", "64K")
    _cache_index(tmp_path, "index1", 2, "Unified", "1M")
    _cache_index(tmp_path, "index2", 1, "Data", "32768")
    assert host.l1_data_bytes(str(tmp_path)) == 32768


def test_an_unreadable_or_odd_sysfs_gives_the_default(tmp_path):
    assert host.l1_data_bytes(str(tmp_path / "missing")) == host.DEFAULT_L1_DATA_BYTES
    _cache_index(tmp_path, "index0", 1, "Data", "lots")
    assert host.l1_data_bytes(str(tmp_path)) == host.DEFAULT_L1_DATA_BYTES
    for size in ("0K", "", "K", "-48K", "99999999K", "1G"):
        (tmp_path / "index0" / "size").write_text(f"{size}\n")
        assert host.l1_data_bytes(str(tmp_path)) == host.DEFAULT_L1_DATA_BYTES, size


def test_numba_cpu_name_host_means_the_host(monkeypatch):
    from numba import config

    monkeypatch.setattr(config, "CPU_NAME", "host")
    assert host.cpu_name() not in ("", "host")
    monkeypatch.setattr(config, "CPU_NAME", "znver4")
    assert host.cpu_name() == "znver4"


def test_the_host_facts_are_sane():
    assert 8 * 1024 <= host.L1_DATA_BYTES <= 1024 * 1024
    assert isinstance(host.AMD_CORE, bool) and host.cpu_name()
