import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


@pytest.mark.parametrize("old, new", [
    ("[model]\ngraph_betas = [0.0]", "'model.graph_betas' moved to [bundle] graph_betas"),
    ("[train]\nrerank_epochs = 3", "'train.rerank_epochs' moved to [bundle] rerank_epochs"),
])
def test_a_key_that_moved_to_bundle_says_where(tmp_path, old, new):
    with pytest.raises(ConfigError, match=re.escape(new)):
        load_settings(write(tmp_path, old + "\n"))
    section, line = old.split("\n")
    moved = load_settings(write(tmp_path, "[bundle]\n" + line + "\n"))
    key, value = line.split(" = ")
    assert str(getattr(moved.bundle, key)) in value  # the same value, now under [bundle]


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


# --- hostile config files (issue 24 #11): strict types, one line naming the key and the file ---

KEYS = {  # key -> (TOML section or None, kind)
    "data_dir": (None, "path"), "sources": (None, "list"), "run.lock_timeout_s": ("run", "float"),
    "score.top_n": ("score", "int"), "train.batch_size": ("train", "int"),
    "clicks.future_tolerance_s": ("clicks", "int"), "run.progress": ("run", "bool"),
    "gate.tolerance": ("gate", "float"), "clicks.urls": ("clicks", "list"),
}
WRONG = {  # TOML literals that are not of the kind (each once coerced, or a traceback)
    "int": ["true", '"30"', "30.0", '"1e3"', "[30]"],
    "float": ["true", "false", '"1.5"', "[1.0]", "{ a = 1 }"],
    "bool": ["1", '"true"', '"yes"', "0.0"],
    "path": ["5", "true", "1.5", "[1]", "{ a = 1 }"],
    "list": ["5", '"x"', "true", "{ a = 1 }"],
}


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(sorted(KEYS)).flatmap(
    lambda key: st.tuples(st.just(key), st.sampled_from(WRONG[KEYS[key][1]]))))
def test_a_value_of_the_wrong_type_is_one_line_naming_key_and_file(tmp_path_factory, case):
    key, literal = case
    section, _ = KEYS[key]
    name = key.split(".")[-1]
    text = f"{name} = {literal}\n" if section is None else f"[{section}]\n{name} = {literal}\n"
    path = tmp_path_factory.mktemp("cfg") / "crossrec.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    msg = str(err.value)
    assert f"'{key}" in msg and str(path) in msg and "\n" not in msg


BAD_UTF8 = st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80"])


@settings(max_examples=30, deadline=None)
@given(bad=BAD_UTF8, at=st.integers(0, 10**6))
def test_a_config_that_is_not_utf8_is_one_line_naming_the_file(tmp_path_factory, bad, at):
    good = b'data_dir = "out"\n[score]\ntop_n = 5\n'
    at %= len(good) + 1
    path = tmp_path_factory.mktemp("cfg") / "crossrec.toml"
    path.write_bytes(good[:at] + bad + good[at:])
    with pytest.raises(ConfigError, match="not valid UTF-8") as err:
        load_settings(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_right_types_still_load(tmp_path):
    s = load_settings(write(tmp_path, 'data_dir = "out"\n[run]\nlock_timeout_s = 1\n'
                                      "progress = false\n[score]\ntop_n = 30\nmemory_mb = 64\n"
                                      "[gate]\ntolerance = 0\n"))
    assert (s.run.lock_timeout_s, s.score.top_n, s.score.memory_mb) == (1.0, 30, 64.0)
    assert s.data_dir == tmp_path / "out" and s.run.progress is False
    assert load_settings(None, data_dir=tmp_path / "d").data_dir == tmp_path / "d"


def test_the_renamed_popularity_folds_says_its_new_name(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(
            "'bundle.popularity_folds' moved to [bundle] graph_folds")):
        load_settings(write(tmp_path, "[bundle]\npopularity_folds = 3\n"))
    assert load_settings(write(tmp_path, "[bundle]\ngraph_folds = 3\n")).bundle.graph_folds == 3
