"""Environment settings: bad values name their variable; the app secret is made once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from finapp.settings import SECRET_FILE_NAME, SettingsError, get_settings, load_settings
from tests.conftest import reload_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["abc", "70000", "0"])
def test_bad_port_is_reported_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PORT", value)
    with pytest.raises(SettingsError, match="PORT"):
        load_settings()


def test_good_port_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    assert load_settings().port == 8080


def test_bad_database_url_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "not a url")
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings()


def test_short_jwt_secret_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", "x" * 31)
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        load_settings()


def test_every_bad_variable_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("FINAPP_SESSION_HOURS", "0")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "PORT" in str(excinfo.value)
    assert "FINAPP_SESSION_HOURS" in str(excinfo.value)


def test_secret_is_generated_once_private_and_stable_across_reloads(data_dir: Path) -> None:
    path = data_dir / SECRET_FILE_NAME
    assert not path.exists()

    first = get_settings().app_secret()
    assert len(first) >= 32
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert get_settings().app_secret() == first
    reload_settings()
    assert get_settings().app_secret() == first


def test_secret_is_created_in_a_missing_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "not" / "yet"
    monkeypatch.setenv("FINAPP_DATA_DIR", str(missing))
    reload_settings()
    secret = get_settings().app_secret()
    assert (missing / SECRET_FILE_NAME).read_text() == secret


def test_different_installations_get_different_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = set()
    for name in ("one", "two"):
        monkeypatch.setenv("FINAPP_DATA_DIR", str(tmp_path / name))
        reload_settings()
        secrets.add(get_settings().app_secret())
    assert len(secrets) == 2


def test_env_secret_wins_over_the_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (data_dir / SECRET_FILE_NAME).write_text("from-the-file-" + "f" * 40)
    monkeypatch.setenv("JWT_SECRET_KEY", "from-the-env-" + "e" * 40)
    reload_settings()
    assert get_settings().app_secret() == "from-the-env-" + "e" * 40


def test_existing_secret_file_is_used(data_dir: Path) -> None:
    (data_dir / SECRET_FILE_NAME).write_text("persisted-" + "p" * 40 + "\n")
    assert get_settings().app_secret() == "persisted-" + "p" * 40


def test_default_database_is_a_sqlite_file_in_the_data_dir(data_dir: Path) -> None:
    url = get_settings().resolved_database_url
    assert url == f"sqlite:///{(data_dir / 'finapp.db').resolve()}"


def test_database_url_from_env_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db.example:5432/finapp")
    reload_settings()
    assert get_settings().resolved_database_url == "postgresql+psycopg://u:p@db.example:5432/finapp"


def test_check_settings_command_exits_2_and_names_port(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET_KEY")}
    env.update(PORT="abc", FINAPP_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "finapp.manage", "check-settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_settings_command_exits_0_on_good_settings(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET_KEY")}
    env.update(PORT="3000", FINAPP_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "finapp.manage", "check-settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_empty_secret_file_is_never_used_as_the_secret(data_dir: Path) -> None:
    (data_dir / SECRET_FILE_NAME).write_text("")
    try:
        secret = get_settings().app_secret()
    except SettingsError:
        return  # refusing to start is an acceptable answer too
    assert len(secret) >= 32


def test_racing_workers_on_first_start_all_get_the_same_complete_secret(data_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = get_settings()
    with ThreadPoolExecutor(max_workers=8) as pool:
        secrets_seen = set(pool.map(lambda _: settings.app_secret(), range(32)))
    assert len(secrets_seen) == 1
    assert len(secrets_seen.pop()) >= 32
    assert [p.name for p in data_dir.iterdir()] == [SECRET_FILE_NAME]  # no temporary files left
