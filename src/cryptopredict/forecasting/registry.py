"""Versioned model artifacts on disk: layout, manifest, hashing and verified loading.

Pure Python on files: it takes and returns forecaster objects and plain values; the database
side (``ModelVersion`` rows, numbering, promotion) lives in ``forecasting.repository``.

Layout under the model directory (``Settings.resolved_model_dir``)::

    <coin>/<interval>/h<horizon>/<kind>/v<version>/
        manifest.json      every other file of the version with its size and SHA-256
        params.json ...    whatever the forecaster's ``save`` wrote

A registry row keeps the version's path relative to the model directory and the SHA-256 of
its ``manifest.json``; the manifest lists the hash of every other file, so that one digest
covers the whole artifact. Loading reads each file once, checks it against the manifest and
the manifest against the stored digest, refuses missing, changed or unlisted files, then
hands the forecaster class a private copy of exactly the bytes it checked (no window between
check and use). Nothing is unpickled here; the model classes read JSON, ``.npz`` with
``allow_pickle=False``, LightGBM text and torch ``state_dict`` files with
``weights_only=True``.

Errors::

    RegistryError                    anything the registry refuses
     ├── UnsafeArtifactPathError     a path that would leave the model directory, a link,
     │                               or a name that is not a plain path component
     └── ArtifactIntegrityError      the artifact is missing, or differs from what was saved
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptopredict.forecasting.forecasters.base import Forecaster

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RegistryError(Exception):
    """The registry refused an artifact operation; the message says which and why."""


class UnsafeArtifactPathError(RegistryError):
    """A path that would resolve outside the model directory, or a link inside an artifact."""


class ArtifactIntegrityError(RegistryError):
    """An artifact is missing or no longer matches the hash recorded when it was saved."""


@dataclass(frozen=True)
class SavedArtifact:
    """Where a version was written and the digest that vouches for it.

    Attributes:
        path: the version's folder relative to the model directory, POSIX separators.
        sha256: hex SHA-256 of its ``manifest.json``.
        files: the files the manifest covers, relative to the version's folder.
    """

    path: str
    sha256: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class VerifiedArtifact:
    """An artifact's manifest and file contents, all checked against the stored digest."""

    manifest: dict[str, Any]
    contents: dict[str, bytes]

    @property
    def kind(self) -> str:
        """The forecaster kind that wrote the artifact."""
        return str(self.manifest["kind"])


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def _component(value: object, what: str) -> str:
    """A single safe path component (letters, digits, ``._-``; no ``..``, no separators)."""
    text = str(value)
    if not _COMPONENT.fullmatch(text) or ".." in text:
        raise UnsafeArtifactPathError(f"{what} {text!r} is not a safe path component")
    return text


def artifact_path(*, coin: str, interval: str, horizon: int, kind: str, version: int) -> str:
    """The folder of one version, relative to the model directory."""
    parts = (
        _component(coin, "coin"),
        _component(interval, "interval"),
        f"h{int(horizon)}",
        _component(kind, "kind"),
        f"v{int(version)}",
    )
    return "/".join(parts)


def resolve_artifact_dir(model_dir: Path, relative: str) -> Path:
    """The absolute folder of an artifact, refusing any path that leaves ``model_dir``.

    Refused: absolute paths, backslashes, empty, ``.`` or ``..`` components, and paths whose
    resolution (links followed) lands outside the model directory or on it.
    """
    pure = PurePosixPath(relative)
    if (
        not relative
        or "\\" in relative
        or "\x00" in relative
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in relative.split("/"))
    ):
        raise UnsafeArtifactPathError(f"artifact path {relative!r} is not a plain relative path")
    root = model_dir.resolve()
    candidate = (root / pure).resolve()
    if candidate == root or not candidate.is_relative_to(root):
        raise UnsafeArtifactPathError(
            f"artifact path {relative!r} resolves outside the model directory"
        )
    return candidate


def _files(directory: Path) -> list[str]:
    """Every regular file under ``directory`` as sorted POSIX relative names; links and
    special files are refused, so nothing in an artifact can point elsewhere."""
    names: list[str] = []
    for current, dirs, files in os.walk(directory, followlinks=False):
        base = Path(current)
        for name in (*dirs, *files):
            mode = (base / name).lstat().st_mode
            relative = (base / name).relative_to(directory).as_posix()
            if stat.S_ISLNK(mode):
                raise UnsafeArtifactPathError(f"artifact holds a link: {relative}")
            if name in files:
                if not stat.S_ISREG(mode):
                    raise UnsafeArtifactPathError(f"artifact holds a special file: {relative}")
                names.append(relative)
    return sorted(names)


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes, never following a link at the last component."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UnsafeArtifactPathError(f"{path.name} is not a regular file")
        return handle.read()


def save_artifact(
    forecaster: Forecaster,
    model_dir: Path,
    relative: str,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> SavedArtifact:
    """Write a fitted forecaster and its manifest as a new, complete version folder.

    The files are written into a private staging folder beside the target and renamed into
    place at the end, so a version folder is either absent or complete; an existing version
    is never overwritten.

    Args:
        forecaster: a fitted model; its ``save`` writes the files.
        model_dir: the registry root.
        relative: the version's folder, usually from ``artifact_path``.
        metadata: JSON-serialisable facts copied into the manifest (coin, horizon, ...), so
            a folder can be understood without the database.

    Returns:
        The relative path, the manifest's SHA-256 and the files it covers.

    Raises:
        RegistryError: the version exists already, or the model wrote a link or a file
            named like the manifest.
    """
    target = resolve_artifact_dir(model_dir, relative)
    if target.exists():
        raise RegistryError(f"artifact {relative} exists already; versions are never rewritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        forecaster.save(staging)
        names = _files(staging)
        if MANIFEST_FILE in names:
            raise RegistryError(f"{forecaster.kind} wrote its own {MANIFEST_FILE}")
        entries: dict[str, dict[str, Any]] = {}
        for name in names:
            data = (staging / name).read_bytes()
            entries[name] = {"bytes": len(data), "sha256": sha256_hex(data)}
        manifest = {
            "format": MANIFEST_FORMAT,
            "kind": forecaster.kind,
            "metadata": dict(metadata or {}),
            "files": entries,
        }
        body = json.dumps(manifest, sort_keys=True, indent=1).encode()
        (staging / MANIFEST_FILE).write_bytes(body)
        staging.rename(target)  # atomic; fails when a concurrent save got there first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SavedArtifact(path=relative, sha256=sha256_hex(body), files=tuple(names))


def read_verified(model_dir: Path, relative: str, expected_sha256: str) -> VerifiedArtifact:
    """Read an artifact and check every byte of it against the digest saved with it.

    Raises:
        UnsafeArtifactPathError: the path leaves the model directory, or holds a link.
        ArtifactIntegrityError: the folder or a file is missing, a file was edited or
            added, or the manifest's hash is not ``expected_sha256``.
    """
    directory = resolve_artifact_dir(model_dir, relative)
    if not directory.is_dir():
        raise ArtifactIntegrityError(f"artifact {relative} is missing from {model_dir}")
    try:
        body = _read_regular(directory / MANIFEST_FILE)
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"artifact {relative} has no {MANIFEST_FILE}") from None
    found = sha256_hex(body)
    if not hmac.compare_digest(found, expected_sha256.lower()):
        raise ArtifactIntegrityError(
            f"artifact {relative}: manifest hash mismatch (expected {expected_sha256}, "
            f"found {found}); refusing to load a model that changed since it was registered"
        )
    manifest: dict[str, Any] = json.loads(body)
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        raise ArtifactIntegrityError(f"artifact {relative}: unknown manifest format")
    listed: dict[str, dict[str, Any]] = manifest["files"]
    present = set(_files(directory)) - {MANIFEST_FILE}
    missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
    if missing:
        raise ArtifactIntegrityError(f"artifact {relative}: missing file(s) {missing}")
    if extra:
        raise ArtifactIntegrityError(f"artifact {relative}: unlisted file(s) {extra}")
    contents: dict[str, bytes] = {}
    for name, entry in sorted(listed.items()):
        for part in name.split("/"):
            _component(part, "artifact file name")
        data = _read_regular(directory / name)
        if not hmac.compare_digest(sha256_hex(data), str(entry.get("sha256", ""))):
            raise ArtifactIntegrityError(
                f"artifact {relative}: {name} changed since it was saved (hash mismatch)"
            )
        contents[name] = data
    return VerifiedArtifact(manifest=manifest, contents=contents)


def load_artifact(
    model_dir: Path,
    relative: str,
    expected_sha256: str,
    *,
    classes: Mapping[str, type[Forecaster]] | None = None,
) -> Forecaster:
    """Verify an artifact (see ``read_verified``) and rebuild its fitted forecaster.

    Args:
        model_dir: the registry root.
        relative: the version's folder as stored in its registry row.
        expected_sha256: the manifest digest stored in its registry row.
        classes: forecaster class per kind; default: every model the engine ships.

    Raises:
        RegistryError: the artifact is unsafe, corrupted, or of an unknown kind.
    """
    verified = read_verified(model_dir, relative, expected_sha256)
    if classes is None:
        classes = _shipped_forecasters()
    cls = classes.get(verified.kind)
    if cls is None:
        raise RegistryError(f"artifact {relative} holds an unknown model kind {verified.kind!r}")
    with tempfile.TemporaryDirectory(prefix="cryptopredict-model-") as private:
        root = Path(private)
        for name, data in verified.contents.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return cls.load(root)


def _shipped_forecasters() -> Mapping[str, type[Forecaster]]:
    """Every model the engine ships, by kind."""
    from cryptopredict.forecasting.forecasters import FORECASTERS

    return FORECASTERS


def delete_artifact(model_dir: Path, relative: str) -> None:
    """Remove a version's folder (e.g. when its registry row could not be written)."""
    shutil.rmtree(resolve_artifact_dir(model_dir, relative), ignore_errors=True)
