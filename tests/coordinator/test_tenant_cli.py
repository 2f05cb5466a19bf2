"""``reckon tenant``: bad input and an unreachable database are one line, never a traceback."""

from __future__ import annotations

import pytest

from coordinator.tenant_cli import main
from tests.ports import free_port


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("reckon tenant: ")
    return err


def test_refused_connection_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/x"  # nothing listens there
    assert main(["create", "x", "--database-url", url]) == 1
    assert "cannot connect to the database: " in one_line(capsys)


@pytest.mark.parametrize("url", [
    "garbage",  # asyncpg's ClientConfigurationError
    "postgresql://nobody@127.0.0.1:abc/x",  # ValueError
    "postgresql://nobody@127.0.0.1:99999/x",  # OverflowError
])  # fmt: skip
def test_bad_database_url_is_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                             url: str) -> None:  # fmt: skip
    assert main(["create", "x", "--database-url", url]) == 2
    assert "cannot connect to the database: " in one_line(capsys)


def test_database_url_from_the_environment_is_used(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECKON_DATABASE_URL", "garbage")
    assert main(["create", "x"]) == 2
    assert "invalid DSN" in one_line(capsys)


@pytest.mark.parametrize("scopes", [" , ", "", ","])
def test_no_scopes_are_refused(capsys: pytest.CaptureFixture[str], scopes: str) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    assert main(["create", "x", "--database-url", url, "--scopes", scopes]) == 2
    assert one_line(capsys) == (
        "reckon tenant: --scopes must name at least one of read, write, admin")


def test_unknown_scopes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    assert main(["create", "x", "--database-url", url, "--scopes", "read,owner"]) == 2
    assert "unknown scopes ['owner']" in one_line(capsys)
