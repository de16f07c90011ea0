"""Validating config and secrets against a type's spec, and the files root (SPEC §3.1, §3.8)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from xavyo_connectors_core.config import (
    apply_defaults,
    config_fields,
    require_valid_config,
    resolve_in_root,
    validate_config,
)
from xavyo_connectors_core.errors import FieldError, InvalidInput
from xavyo_connectors_core.model import Capability
from xavyo_connectors_core.spi import ConfigField, ConfigType, Connection, OpenContext


class FakeType:
    """A connector type with one field of every kind."""

    key = "fake"
    description = "for tests"
    capabilities = frozenset({Capability.SEARCH})
    config_spec = (
        ConfigField("url", ConfigType.STRING, required=True),
        ConfigField("file", ConfigType.STRING, path=True),
        ConfigField("port", ConfigType.INTEGER, default=389),
        ConfigField("ratio", ConfigType.NUMBER),
        ConfigField("tls", ConfigType.BOOLEAN, default=False),
        ConfigField("options", ConfigType.OBJECT, default={"a": 1}),
        ConfigField("scope", ConfigType.STRING, default="sub", choices=("sub", "one")),
        ConfigField("password", secret=True, required=True),
        ConfigField("token", secret=True),
    )

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        return "account"

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> Connection:
        raise NotImplementedError


class CheckingType(FakeType):
    """A type with its own ``check_config``."""

    def check_config(self, config: Mapping[str, Any]) -> Iterable[FieldError]:
        if config["url"].startswith("http:"):
            yield FieldError("config.url", "must not be plain http")


FAKE = FakeType()
VALID: dict[str, Any] = {"url": "ldap://x"}
SECRETS = {"password": "hunter2"}


def paths(errors: list[FieldError]) -> list[str]:
    return sorted(e.path for e in errors)


class TestValidateConfig:
    def test_valid_config_gets_defaults(self) -> None:
        """A valid config comes back with every default filled in, timeout included."""
        config, errors = validate_config(FAKE, VALID, SECRETS)
        assert errors == []
        assert config == {
            "url": "ldap://x",
            "port": 389,
            "tls": False,
            "options": {"a": 1},
            "scope": "sub",
            "timeout_seconds": 10,
        }

    def test_defaults_are_copies(self) -> None:
        """Mutating a returned default does not change the spec."""
        config, _ = validate_config(FAKE, VALID, SECRETS)
        config["options"]["a"] = 2
        assert validate_config(FAKE, VALID, SECRETS)[0]["options"] == {"a": 1}

    def test_given_values_kept(self) -> None:
        """Given values win over defaults; null means unset."""
        config, errors = validate_config(
            FAKE, {**VALID, "port": 636, "ratio": 0.5, "tls": None}, SECRETS
        )
        assert errors == []
        assert config["port"] == 636
        assert config["ratio"] == 0.5
        assert config["tls"] is False

    def test_every_error_at_once(self) -> None:
        """Unknown, missing, mistyped and out-of-choice keys are all reported, with paths."""
        config = {
            "bogus": 1,
            "port": "389",
            "ratio": True,
            "tls": "yes",
            "options": [1],
            "scope": "base",
            "timeout_seconds": "ten",
        }
        _, errors = validate_config(FAKE, config, {"nope": "x"})
        assert paths(errors) == [
            "config.bogus",
            "config.options",
            "config.port",
            "config.ratio",
            "config.scope",
            "config.timeout_seconds",
            "config.tls",
            "config.url",
            "secrets.nope",
            "secrets.password",
        ]
        by_path = {e.path: e.message for e in errors}
        assert by_path["config.bogus"] == "is not a known field"
        assert by_path["config.url"] == "is required"
        assert by_path["config.port"] == "must be an integer"
        assert by_path["config.ratio"] == "must be a number"
        assert by_path["config.tls"] == "must be a boolean"
        assert by_path["config.options"] == "must be an object"
        assert by_path["config.scope"] == "must be one of: sub, one"
        assert by_path["secrets.password"] == "is required"
        assert by_path["secrets.nope"] == "is not a known secret"

    def test_messages_never_echo_values(self) -> None:
        """No message contains the value that was rejected."""
        marker = "VALUE-7f3a"
        config = {"url": 5, "port": marker, "scope": marker, marker: marker}
        _, errors = validate_config(FAKE, config, {"password": 1, "url": marker})
        assert errors
        assert all(marker not in e.message for e in errors)

    @pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
    def test_timeout_must_be_positive_and_finite(self, value: float) -> None:
        """timeout_seconds is accepted for every type and must be a positive number."""
        _, errors = validate_config(FAKE, {**VALID, "timeout_seconds": value}, SECRETS)
        assert paths(errors) == ["config.timeout_seconds"]

    def test_timeout_accepted(self) -> None:
        """A type that does not list timeout_seconds still accepts it."""
        config, errors = validate_config(FAKE, {**VALID, "timeout_seconds": 2.5}, SECRETS)
        assert errors == []
        assert config["timeout_seconds"] == 2.5
        assert [f.name for f in config_fields(FAKE)][-1] == "timeout_seconds"

    def test_required_string_not_blank(self) -> None:
        """A required string must not be empty."""
        _, errors = validate_config(FAKE, {"url": "  "}, SECRETS)
        assert [(e.path, e.message) for e in errors] == [("config.url", "must not be empty")]

    def test_integer_is_not_a_boolean(self) -> None:
        """True is not an integer, though Python says it is."""
        _, errors = validate_config(FAKE, {**VALID, "port": True}, SECRETS)
        assert paths(errors) == ["config.port"]

    def test_not_objects(self) -> None:
        """A config or secrets that is not an object is one error each."""
        _, errors = validate_config(FAKE, [], "x")  # type: ignore[arg-type]
        assert {"config", "secrets", "config.url", "secrets.password"} <= set(paths(errors))

    def test_unknown_keys_not_kept(self) -> None:
        """The normalized config holds only known keys."""
        config, _ = validate_config(FAKE, {**VALID, "bogus": 1}, SECRETS)
        assert "bogus" not in config


class TestSecretPlacement:
    def test_secret_under_config(self) -> None:
        """A secret field given under config is an error (and not kept)."""
        config, errors = validate_config(FAKE, {**VALID, "password": "hunter2"}, SECRETS)
        assert [(e.path, e.message) for e in errors] == [
            ("config.password", "is a secret: set it under secrets")
        ]
        assert "password" not in config

    def test_plain_field_under_secrets(self) -> None:
        """A non-secret field given under secrets is an error."""
        _, errors = validate_config(FAKE, VALID, {**SECRETS, "url": "ldap://y"})
        assert [(e.path, e.message) for e in errors] == [
            ("secrets.url", "is not a secret: set it under config")
        ]

    def test_secret_values_are_strings(self) -> None:
        """A secret value must be a string; an empty one stands for a kept secret."""
        _, errors = validate_config(FAKE, VALID, {"password": "", "token": 5})
        assert [(e.path, e.message) for e in errors] == [("secrets.token", "must be a string")]

    def test_secret_defaults_never_filled(self) -> None:
        """apply_defaults never puts a secret into config."""
        assert "password" not in apply_defaults(FAKE, VALID)


class TestTypeChecks:
    def test_check_config_called_when_fields_valid(self) -> None:
        """A type's check_config adds its errors once every field is well-typed."""
        _, errors = validate_config(CheckingType(), {"url": "http://x"}, SECRETS)
        assert [(e.path, e.message) for e in errors] == [("config.url", "must not be plain http")]

    def test_check_config_skipped_on_field_errors(self) -> None:
        """With field errors, check_config is not asked (it may rely on types)."""
        _, errors = validate_config(CheckingType(), {"url": "http://x", "port": "x"}, SECRETS)
        assert paths(errors) == ["config.port"]

    def test_require_valid_config_raises_all(self) -> None:
        """require_valid_config raises InvalidInput with every error."""
        with pytest.raises(InvalidInput) as info:
            require_valid_config(FAKE, {"port": "x"}, {})
        assert paths(list(info.value.errors)) == [
            "config.port",
            "config.url",
            "secrets.password",
        ]
        assert require_valid_config(FAKE, VALID, SECRETS)["port"] == 389


class TestFilesRoot:
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        root = tmp_path / "files"
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "a.csv").write_text("id\n")
        return root

    def test_relative_path_resolves_inside(self, root: Path) -> None:
        """A relative path resolves to a file inside the root (it need not exist)."""
        assert resolve_in_root(root, "sub/a.csv") == (root / "sub" / "a.csv").resolve()
        assert resolve_in_root(root, "new.csv") == (root / "new.csv").resolve()

    @pytest.mark.parametrize(
        "value",
        ["../outside.csv", "sub/../../outside.csv", "sub/../a.csv", "..", "..\\x.csv"],
    )
    def test_dotdot_rejected(self, root: Path, value: str) -> None:
        """Any '..' part is rejected."""
        with pytest.raises(InvalidInput) as info:
            resolve_in_root(root, value, field_path="config.file")
        assert [e.path for e in info.value.errors] == ["config.file"]
        assert "'..'" in info.value.errors[0].message

    @pytest.mark.parametrize("value", ["/etc/passwd", "C:\\x.csv", "\\\\server\\share\\x"])
    def test_absolute_rejected(self, root: Path, value: str) -> None:
        """Absolute paths (POSIX, drive letters, UNC) are rejected."""
        with pytest.raises(InvalidInput, match="absolute"):
            resolve_in_root(root, value)

    @pytest.mark.parametrize("value", ["", "  ", ".", "a\x00b"])
    def test_empty_root_and_nul_rejected(self, root: Path, value: str) -> None:
        """Empty values, the root itself and NUL characters are rejected."""
        with pytest.raises(InvalidInput):
            resolve_in_root(root, value)

    def test_symlink_out_rejected(self, root: Path, tmp_path: Path) -> None:
        """A symlink inside the root that points outside it is rejected."""
        outside = tmp_path / "secret.csv"
        outside.write_text("id\n")
        os.symlink(outside, root / "link.csv")
        os.symlink(tmp_path, root / "linkdir")
        for value in ("link.csv", "linkdir/secret.csv"):
            with pytest.raises(InvalidInput, match="symlink"):
                resolve_in_root(root, value)

    def test_symlink_within_root_allowed(self, root: Path) -> None:
        """A symlink that stays inside the root is followed."""
        os.symlink(root / "sub" / "a.csv", root / "alias.csv")
        assert resolve_in_root(root, "alias.csv") == (root / "sub" / "a.csv").resolve()

    def test_symlinked_root_itself(self, root: Path, tmp_path: Path) -> None:
        """The root may itself be reached through a symlink."""
        os.symlink(root, tmp_path / "root-link")
        assert (
            resolve_in_root(tmp_path / "root-link", "sub/a.csv")
            == (root / "sub" / "a.csv").resolve()
        )

    def test_symlink_loop_rejected(self, root: Path) -> None:
        """A symlink loop is an error, not a crash."""
        os.symlink(root / "loop2", root / "loop1")
        os.symlink(root / "loop1", root / "loop2")
        with pytest.raises(InvalidInput):
            resolve_in_root(root, "loop1")

    def test_validate_config_checks_path_fields(self, root: Path, tmp_path: Path) -> None:
        """validate_config checks path fields against the files root when given one."""
        os.symlink(tmp_path, root / "out")
        for value in ("../x", "/etc/passwd", "out/x.csv"):
            _, errors = validate_config(FAKE, {**VALID, "file": value}, SECRETS, files_root=root)
            assert paths(errors) == ["config.file"]
            assert value not in errors[0].message
        _, errors = validate_config(FAKE, {**VALID, "file": "sub/a.csv"}, SECRETS, files_root=root)
        assert errors == []
        _, errors = validate_config(FAKE, {**VALID, "file": "../x"}, SECRETS)
        assert errors == []  # no files root: not checked
