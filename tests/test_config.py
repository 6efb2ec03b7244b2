from pathlib import Path

import pytest
from pydantic import ValidationError

from crossrec.config import Settings, load_settings
from crossrec.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crossrec.toml"
    path.write_text(text)
    return path


def test_defaults_are_valid_and_synthetic():
    s = load_settings(None)
    assert s.sources[0].kind == "synthetic"
    assert s.domains.source != s.domains.target


def test_typo_in_nested_key_names_the_key(tmp_path):
    path = write(tmp_path, "[train]\nepochz = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    msg = str(err.value)
    assert "unknown key 'train.epochz'" in msg and str(path) in msg
    assert "\n" not in msg


def test_bad_value_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="invalid value for 'score.top_n'"):
        load_settings(write(tmp_path, "[score]\ntop_n = 0\n"))


def test_same_source_and_target_rejected(tmp_path):
    with pytest.raises(ConfigError, match="domains"):
        load_settings(write(tmp_path, '[domains]\nsource = "a"\ntarget = "a"\n'))


def test_relative_paths_resolve_against_config_file(tmp_path):
    path = write(tmp_path, 'data_dir = "out"\n[[sources]]\nkind = "disencdr"\npath = "pairs"\n')
    s = load_settings(path)
    assert s.data_dir == tmp_path / "out"
    assert s.sources[0].path == str(tmp_path / "pairs")


def test_urls_and_meta_paths_in_sources(tmp_path):
    path = write(tmp_path, '[[sources]]\nkind = "amazon"\npath = "https://h/r.json.gz"\n'
                           'meta_path = "meta.json"\n[collect]\ncache_dir = "cache"\n')
    s = load_settings(path)
    assert s.sources[0].path == "https://h/r.json.gz"  # a URL is never made a local path
    assert s.sources[0].meta_path == str(tmp_path / "meta.json")
    assert s.collect.cache_dir == tmp_path / "cache"


def test_bad_checksum_format_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="sources.0.csv.sha256"):
        load_settings(write(tmp_path, '[[sources]]\nkind = "csv"\npath = "a.csv"\n'
                                      'domain = "book"\nsha256 = "abc"\n'))


def test_unknown_source_kind_rejected(tmp_path):
    with pytest.raises(ConfigError, match="sources.0"):
        load_settings(write(tmp_path, '[[sources]]\nkind = "ftp"\n'))


def test_settings_are_frozen():
    with pytest.raises(ValidationError):
        Settings().data_dir = Path("x")


def test_click_drop_dir_is_resolved_against_the_config_folder(tmp_path):
    from crossrec.config import load_settings

    (tmp_path / "conf").mkdir()
    cfg = tmp_path / "conf" / "crossrec.toml"
    cfg.write_text('[clicks]\ndrop_dir = "drop"\n')
    assert load_settings(cfg).clicks.drop_dir == tmp_path / "conf" / "drop"
