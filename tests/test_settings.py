from __future__ import annotations

import os
from pathlib import Path

import pytest

from flywheel_pipeline.settings import SettingsError, load_settings


def test_defaults_follow_flywheel_home(tmp_path: Path) -> None:
    settings = load_settings(flywheel_home=tmp_path)
    assert settings.source == "demo"
    assert settings.duckdb_path == tmp_path / "warehouse" / "warehouse.duckdb"
    assert settings.legacy_warehouse_notice is None
    assert settings.landing_dir == tmp_path / "landing"


def test_a_warehouse_with_the_old_default_name_is_still_found(tmp_path: Path) -> None:
    legacy = tmp_path / "warehouse" / "flywheel.duckdb"
    legacy.parent.mkdir()
    legacy.touch()
    settings = load_settings(flywheel_home=tmp_path)
    assert settings.duckdb_path == legacy
    notice = settings.legacy_warehouse_notice
    assert (
        notice.count("\n") == 0 and f"mv {legacy} {legacy.with_name('warehouse.duckdb')}" in notice
    )
    # once moved (or when both exist) the new name wins and nothing is said
    (tmp_path / "warehouse" / "warehouse.duckdb").touch()
    assert load_settings(flywheel_home=tmp_path).duckdb_path.name == "warehouse.duckdb"
    assert load_settings(flywheel_home=tmp_path).legacy_warehouse_notice is None


def test_source_is_live_when_google_settings_are_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSC_SITE_URL", "sc-domain:example.com")
    assert load_settings().source == "live"
    monkeypatch.setenv("FLYWHEEL_SOURCE", "demo")
    assert load_settings().source == "demo"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FLYWHEEL_DEMO_SEED=7\n")
    assert load_settings().flywheel_demo_seed == 7


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLYWHEEL_DEMO_SCALE", "lots"),
        ("FLYWHEEL_DEMO_SCALE", "0"),
        ("FLYWHEEL_DEMO_DAYS", "3"),
        ("FLYWHEEL_SOURCE", "prod"),
        ("GA4_PROPERTY_ID", "properties/123"),
        ("GSC_SITE_URL", "example.com"),
        ("GOOGLE_APPLICATION_CREDENTIALS", "/no/such/key.json"),
        ("FLYWHEEL_OWNER", "data team"),
        ("FLYWHEEL_EXECUTOR", "k8s"),
        ("FLYWHEEL_GIT_URL", "github.com/acme/flywheel"),
    ],
)
def test_invalid_setting_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_credentials_path_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secret/place/key.json")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "/secret/place" not in str(raised.value)


def test_credentials_from_dotenv_reach_google_clients(tmp_path: Path) -> None:
    """A .env file is read by the settings alone: its key file reaches the Google resources
    through their config, and the environment is left as it was."""
    from flywheel_pipeline.sources.definitions import build_defs

    key = tmp_path / "key.json"
    key.write_text("{}")
    (tmp_path / ".env").write_text(f"GOOGLE_APPLICATION_CREDENTIALS={key}\n")
    before = dict(os.environ)
    resources = build_defs(load_settings()).resources
    assert dict(os.environ) == before
    assert resources["ga4"].credentials_path == str(key)
    assert resources["search_console"].credentials_path == str(key)


def test_credentials_from_the_environment_stay_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster shows an EnvVar's name, never the key file's path."""
    import dagster as dg

    from flywheel_pipeline.resources import google_credentials_path

    key = tmp_path / "key.json"
    key.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    path = google_credentials_path(load_settings())
    assert isinstance(path, dg.EnvVar) and path == "GOOGLE_APPLICATION_CREDENTIALS"
    assert google_credentials_path(load_settings(google_application_credentials=None)) is None


def test_catalog_settings_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in (
        "FLYWHEEL_OWNER",
        "FLYWHEEL_EXECUTOR",
        "FLYWHEEL_GIT_URL",
        "FLYWHEEL_GIT_BRANCH",
    ):
        monkeypatch.delenv(variable, raising=False)
    defaults = load_settings()
    assert defaults.flywheel_owner == "team:data"
    assert defaults.flywheel_executor == "in_process"
    assert defaults.flywheel_git_url is None and defaults.flywheel_git_branch == "main"
    monkeypatch.setenv("FLYWHEEL_OWNER", "ana@shop.example")
    monkeypatch.setenv("FLYWHEEL_EXECUTOR", "multiprocess")
    monkeypatch.setenv("FLYWHEEL_GIT_URL", "https://github.com/acme/flywheel")
    monkeypatch.setenv("FLYWHEEL_GIT_BRANCH", "release")
    settings = load_settings()
    assert settings.flywheel_owner == "ana@shop.example"
    assert settings.flywheel_executor == "multiprocess"
    assert settings.flywheel_git_url == "https://github.com/acme/flywheel"
    assert settings.flywheel_git_branch == "release"
    assert (
        load_settings(flywheel_owner="team:marketing-data").flywheel_owner == "team:marketing-data"
    )
