"""Development mode and the secret key: safe unless an operator asks otherwise.

Invariants:
- settings default to production mode, and there is no key in the source to fall back on;
- `serve` turns development mode on by itself only for the quick start (embedded database
  on a loopback address); elsewhere it needs `--dev` or MICROSPACE_DEV;
- the per-installation key is random, kept across starts, readable by its owner only;
- `serve` refuses a non-loopback address while that generated key is in use, and refuses
  production mode without MICROSPACE_SECRET_KEY, before it touches the database.
"""

from __future__ import annotations

import stat

import pytest

from core.config import Settings, load_settings
from core.devdb import installation_secret
from microspace.commands.serve import serve_settings
from microspace.commands.tenants import OperatorError
from tests.test_cli import run_cli

PUBLIC = "https://api.test.example"


@pytest.fixture
def no_env(monkeypatch):
    for name in ("MICROSPACE_DEV", "MICROSPACE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_default_to_production_without_a_builtin_key(no_env):
    settings = load_settings()
    assert settings.dev_mode is False
    with pytest.raises(RuntimeError):
        Settings(dev_mode=True).secret()


def test_installation_secret_is_random_kept_and_private(tmp_path):
    first = installation_secret(tmp_path / "a" / "secret-key")
    assert len(first) >= 48
    assert installation_secret(tmp_path / "a" / "secret-key") == first
    assert installation_secret(tmp_path / "b" / "secret-key") != first
    mode = stat.S_IMODE((tmp_path / "a" / "secret-key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("embedded", "host", "dev", "env_dev", "expected"),
    [
        (True, "127.0.0.1", False, None, True),  # the README's quick start
        (True, "localhost", False, None, True),
        (True, "::1", False, "0", False),  # explicitly off
        (False, "127.0.0.1", False, None, False),  # an external database: production
        (False, "127.0.0.1", True, None, True),  # --dev
        (False, "127.0.0.1", False, "1", True),  # MICROSPACE_DEV=1
    ],
)
def test_serve_is_development_only_for_the_quick_start_or_when_asked(
    no_env, embedded, host, dev, env_dev, expected
):
    if env_dev is not None:
        no_env.setenv("MICROSPACE_DEV", env_dev)
    no_env.setenv("MICROSPACE_SECRET_KEY", "configured")
    settings = Settings(dev_mode=env_dev == "1", secret_key="configured", public_url=PUBLIC)
    assert serve_settings(settings, embedded=embedded, host=host, dev=dev).dev_mode is expected


def test_serve_refuses_what_would_expose_the_key(no_env):
    generated = Settings(secret_key="generated")
    with pytest.raises(OperatorError, match="MICROSPACE_SECRET_KEY"):
        serve_settings(generated, embedded=True, host="0.0.0.0", dev=False)
    with pytest.raises(OperatorError, match="MICROSPACE_SECRET_KEY"):
        serve_settings(generated, embedded=False, host="10.0.0.5", dev=True)
    with pytest.raises(OperatorError, match="production"):
        serve_settings(Settings(), embedded=False, host="127.0.0.1", dev=False)
    no_env.setenv("MICROSPACE_SECRET_KEY", "configured")
    configured = Settings(secret_key="configured", public_url=PUBLIC)
    assert not serve_settings(configured, embedded=False, host="0.0.0.0", dev=False).dev_mode


async def test_cli_serve_on_a_public_address_without_a_key_exits_2(database_url):
    code, out, err = await run_cli(
        database_url,
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "5721",
        env={"MICROSPACE_DEV": "1", "MICROSPACE_SECRET_KEY": ""},
    )
    assert code == 2, (out, err)
    assert err.startswith("error: refusing to serve on 0.0.0.0")
