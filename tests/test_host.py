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


def test_the_cpu_maker_comes_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n")
    assert host.is_amd(str(cpuinfo))
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n")
    assert not host.is_amd(str(cpuinfo))
    # Unreadable or silent: LLVM's name of the host decides (whatever it is here, a bool).
    assert isinstance(host.is_amd(str(tmp_path / "missing")), bool)


def test_the_host_facts_are_sane():
    low, high = host.L1_DATA_BYTES_RANGE
    assert low <= host.L1_DATA_BYTES <= high
    assert not (host.AMD_WIDE_TILES and host.INTEL_WIDE_TILES)
    assert host.WIDE_TILES == (host.AMD_WIDE_TILES or host.INTEL_WIDE_TILES)
