"""ModelRegistry: model groups, numbered versions, and a person's approval of each version.

The statuses and their transitions are SageMaker Model Registry's ``ModelApprovalStatus``.
A version is registered ``PendingManualApproval``; a person approves or rejects it; an approved
version can later be revoked (``Rejected``). A rejected version stays rejected: it must never be
published, so a new version is registered instead.
"""

import hashlib
import json
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, ResourceDependency
from pydantic import Field, PrivateAttr

from resources import layout
from resources.artifacts import ArtifactStore
from resources.aws import error_code
from resources.errors import (
    ForeignModelError,
    InvalidDecisionError,
    InvalidModelNameError,
    InvalidStatusTransitionError,
    UnknownModelError,
    UnknownModelVersionError,
)
from resources.store_resources import AwsConfig

OWNER_TAG = "edgeline:artifacts"
PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({APPROVED, REJECTED}),
    APPROVED: frozenset({REJECTED}),
    REJECTED: frozenset(),
}

CARD_KEY_PROPERTY = "edgeline:model_card_key"
_MODEL_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's group name rule


def validate_model_name(name: str) -> str:
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise InvalidModelNameError(
            f"model name {name!r} is invalid: use 1-63 letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def check_transition(model: str, version: int, current: str, new: str) -> None:
    """Raise ``InvalidStatusTransitionError`` unless ``current -> new`` is allowed."""
    if new not in STATUSES:
        raise InvalidStatusTransitionError(
            f"unknown status {new!r} for {model} v{version}; expected one of {', '.join(STATUSES)}"
        )
    if new not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing (it is final)"
        raise InvalidStatusTransitionError(
            f"{model} v{version} is {current}; it cannot become {new} (allowed: {allowed})"
        )


MAX_REASON_CHARS = 500
MAX_BY_CHARS = 100


def check_decision(reason: str, by: str) -> None:
    """A decision is recorded with why and by whom: both non-blank and of bounded length."""
    for name, value, limit in (("reason", reason, MAX_REASON_CHARS), ("by", by, MAX_BY_CHARS)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidDecisionError(f"a decision needs a non-blank {name!r}")
        if len(value) > limit:
            raise InvalidDecisionError(f"{name!r} has {len(value)} characters; at most {limit}")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, without its (possibly large) model card."""

    model: str
    version: int
    status: str
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None
    status_by: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class ModelRegistry(ConfigurableResource, ABC):
    """Register model versions and record who approved or rejected them, and why."""

    @abstractmethod
    def ensure_model(self, model: str, description: str = "") -> None:
        """Create the model group if it does not exist yet."""

    @abstractmethod
    def list_models(self) -> list[str]: ...

    @abstractmethod
    def register_version(self, model: str, model_card: dict[str, Any]) -> ModelVersion:
        """Register the next version (1, 2, 3, ...) as PendingManualApproval with its card."""

    @abstractmethod
    def list_versions(self, model: str, status: str | None = None) -> list[ModelVersion]:
        """Versions of ``model``, oldest first, optionally only those with ``status``."""

    @abstractmethod
    def describe_version(self, model: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def get_model_card(self, model: str, version: int) -> dict[str, Any]:
        """The metadata registered with the version: metrics, variants, lineage, baseline."""

    @abstractmethod
    def set_status(
        self, model: str, version: int, status: str, reason: str, by: str
    ) -> ModelVersion:
        """Move a version to ``status``; refuses transitions the workflow does not allow."""

    def approve(self, model: str, version: int, reason: str, by: str) -> ModelVersion:
        return self.set_status(model, version, APPROVED, reason, by)

    def reject(self, model: str, version: int, reason: str, by: str) -> ModelVersion:
        return self.set_status(model, version, REJECTED, reason, by)


class SqliteModelRegistry(ModelRegistry):
    """The local registry: one SQLite file; version numbering happens inside a write transaction."""

    path: str = Field(description="SQLite database file.")
    _ready: bool = PrivateAttr(default=False)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            if not self._ready:
                connection.executescript(_SCHEMA)
                self._ready = True
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @staticmethod
    def _require_model(connection: sqlite3.Connection, model: str) -> None:
        validate_model_name(model)
        if connection.execute("SELECT 1 FROM models WHERE name = ?", (model,)).fetchone() is None:
            raise UnknownModelError(f"no model named {model!r} is registered")

    @staticmethod
    def _row_to_version(row: sqlite3.Row | tuple) -> ModelVersion:
        model, version, status, created, updated, reason, by = row
        return ModelVersion(
            model=model,
            version=version,
            status=status,
            created_at=datetime.fromisoformat(created),
            updated_at=datetime.fromisoformat(updated),
            status_reason=reason,
            status_by=by,
        )

    def ensure_model(self, model: str, description: str = "") -> None:
        validate_model_name(model)
        with self._transaction() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO models (name, description, created_at) VALUES (?, ?, ?)",
                (model, description, _now().isoformat()),
            )

    def list_models(self) -> list[str]:
        with self._connect() as connection:
            return [row[0] for row in connection.execute("SELECT name FROM models ORDER BY name")]

    def register_version(self, model: str, model_card: dict[str, Any]) -> ModelVersion:
        card_json = json.dumps(model_card, sort_keys=True)
        with self._transaction() as connection:
            self._require_model(connection, model)
            (latest,) = connection.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE model = ?", (model,)
            ).fetchone()
            now = _now().isoformat()
            connection.execute(
                "INSERT INTO versions (model, version, status, card, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (model, latest + 1, PENDING, card_json, now, now),
            )
            return self._fetch(connection, model, latest + 1)

    _COLUMNS = "model, version, status, created_at, updated_at, status_reason, status_by"

    def _fetch(self, connection: sqlite3.Connection, model: str, version: int) -> ModelVersion:
        row = connection.execute(
            f"SELECT {self._COLUMNS} FROM versions WHERE model = ? AND version = ?",
            (model, version),
        ).fetchone()
        if row is None:
            self._require_model(connection, model)
            raise UnknownModelVersionError(f"model {model!r} has no version {version}")
        return self._row_to_version(row)

    def list_versions(self, model: str, status: str | None = None) -> list[ModelVersion]:
        with self._connect() as connection:
            self._require_model(connection, model)
            query = f"SELECT {self._COLUMNS} FROM versions WHERE model = ?"
            params: tuple = (model,)
            if status is not None:
                query += " AND status = ?"
                params += (status,)
            rows = connection.execute(query + " ORDER BY version", params).fetchall()
        return [self._row_to_version(row) for row in rows]

    def describe_version(self, model: str, version: int) -> ModelVersion:
        with self._connect() as connection:
            return self._fetch(connection, model, version)

    def get_model_card(self, model: str, version: int) -> dict[str, Any]:
        with self._connect() as connection:
            self._fetch(connection, model, version)
            (card,) = connection.execute(
                "SELECT card FROM versions WHERE model = ? AND version = ?", (model, version)
            ).fetchone()
        return json.loads(card)

    def set_status(
        self, model: str, version: int, status: str, reason: str, by: str
    ) -> ModelVersion:
        with self._transaction() as connection:
            current = self._fetch(connection, model, version)
            check_transition(model, version, current.status, status)
            check_decision(reason, by)
            now = _now().isoformat()
            connection.execute(
                "UPDATE versions SET status = ?, status_reason = ?, status_by = ?, updated_at = ?"
                " WHERE model = ? AND version = ?",
                (status, reason, by, now, model, version),
            )
            connection.execute(
                "INSERT INTO status_history (model, version, from_status, to_status, reason,"
                " changed_by, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (model, version, current.status, status, reason, by, now),
            )
            return self._fetch(connection, model, version)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, description TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    model TEXT NOT NULL REFERENCES models(name), version INTEGER NOT NULL,
    status TEXT NOT NULL, card TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    status_reason TEXT, status_by TEXT, PRIMARY KEY (model, version));
CREATE INDEX IF NOT EXISTS versions_by_status ON versions (model, status);
CREATE TABLE IF NOT EXISTS status_history (
    model TEXT NOT NULL, version INTEGER NOT NULL, from_status TEXT NOT NULL,
    to_status TEXT NOT NULL, reason TEXT, changed_by TEXT, changed_at TEXT NOT NULL);
"""


class SageMakerModelRegistry(ModelRegistry):
    """SageMaker Model Registry: a model package group per model, a model package per version.

    The model card lives in the artifact store (``registry/<model>/cards/<sha256>.json``) and its
    key is referenced from the package's customer metadata. Reason and approver go into
    ``ApprovalDescription`` as JSON; a description typed by a person in Studio is kept as the reason.
    """

    artifacts: ResourceDependency[ArtifactStore] = Field(
        description="Where model cards are stored."
    )
    group_prefix: str = Field(
        default="",
        description=(
            "Put before each model's name to name its model package group, so that two "
            "deployments in one account (staging and production) can each have an "
            "'image-classifier' (EDGELINE_SAGEMAKER_GROUP_PREFIX, e.g. 'staging-')."
        ),
    )
    aws: AwsConfig = Field(default_factory=AwsConfig)
    _group_arns: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def sagemaker(self) -> Any:
        return self.aws.cached_client("sagemaker")

    def _group_arn(self, model: str) -> str:
        """The model package group's ARN, once the group is known to be this deployment's:
        ``UnknownModelError`` if there is no such group, ``ForeignModelError`` if its owner tag
        names another artifact store (its versions' cards are not here, and approving or
        publishing them is not this deployment's call). A checked ARN is kept for the
        resource's life (every call asks for it); a group retagged since is checked again by
        the next process."""
        if model in self._group_arns:
            return self._group_arns[model]
        try:
            group = self.sagemaker.describe_model_package_group(
                ModelPackageGroupName=self._group_name(model)
            )
        except self.sagemaker.exceptions.ClientError as error:
            if error_code(error) in ("ValidationException", "ResourceNotFound"):
                raise UnknownModelError(f"no model named {model!r} is registered") from None
            raise
        arn = group["ModelPackageGroupArn"]
        tags = self.sagemaker.list_tags(ResourceArn=arn)["Tags"]
        owner = next((t["Value"] for t in tags if t["Key"] == OWNER_TAG), None)
        if owner != self._owner:
            whose = (
                f"the deployment whose cards are in {owner}" if owner else "no Edgeline deployment"
            )
            raise ForeignModelError(
                f"the SageMaker model package group {self._group_name(model)!r} belongs to "
                f"{whose}, not to this "
                f"one ({self._owner}): its versions are not this deployment's to register, "
                f"approve or publish; give the model another name here, or tag the group "
                f"{OWNER_TAG}={self._owner} if it is this deployment's"
            )
        self._group_arns[model] = arn
        return arn

    def _group_name(self, model: str) -> str:
        """``model``'s model package group: the prefix, then the name, within SageMaker's rule."""
        validate_model_name(model)
        name = self.group_prefix + model
        if not _MODEL_NAME.match(name):
            raise InvalidModelNameError(
                f"model package group name {name!r} (group prefix {self.group_prefix!r}, then "
                f"model {model!r}) is invalid: SageMaker takes 1-63 letters, digits and hyphens, "
                "starting and ending with a letter or digit"
            )
        return name

    @staticmethod
    def _to_version(model: str, package: dict[str, Any]) -> ModelVersion:
        reason, by = None, None
        description = package.get("ApprovalDescription")
        if description:
            try:
                parsed = json.loads(description)
                reason, by = parsed.get("reason"), parsed.get("by")
            except (ValueError, AttributeError):
                reason = description
        if by is None:
            by = (package.get("LastModifiedBy") or {}).get("UserProfileName")
        created = package["CreationTime"]
        return ModelVersion(
            model=model,
            version=int(package["ModelPackageVersion"]),
            status=package["ModelApprovalStatus"],
            created_at=created,
            updated_at=package.get("LastModifiedTime") or created,
            status_reason=reason,
            status_by=by,
        )

    def ensure_model(self, model: str, description: str = "") -> None:
        """Create the model's group, tagged with this deployment's artifact store; one that
        exists must be this deployment's (``ForeignModelError`` otherwise): a name shared with
        another deployment or team would mix their versions with ours."""
        try:
            self._group_arn(model)
            return
        except UnknownModelError:
            pass
        try:
            self.sagemaker.create_model_package_group(
                ModelPackageGroupName=self._group_name(model),
                ModelPackageGroupDescription=description[:1024],
                Tags=[
                    {"Key": "edgeline:model", "Value": model},
                    {"Key": OWNER_TAG, "Value": self._owner},
                ],
            )
        except self.sagemaker.exceptions.ClientError as error:
            if "already exists" not in str(error).lower():
                raise
            self._group_arn(model)  # made by a concurrent registration: whose is it?

    @property
    def _owner(self) -> str:
        """The artifact store this registry keeps its cards in: its groups carry it as a tag."""
        return (
            f"{getattr(self.artifacts, 'bucket', 'local')}/{getattr(self.artifacts, 'prefix', '')}"
        )

    def list_models(self) -> list[str]:
        """This deployment's model groups: an account holds other teams' groups too (and other
        Edgeline deployments'), whose cards are not in this store and which are not ours to
        publish."""
        names = []
        for page in self.sagemaker.get_paginator("list_model_package_groups").paginate():
            for group in page["ModelPackageGroupSummaryList"]:
                name = group["ModelPackageGroupName"]
                if not name.startswith(self.group_prefix):  # another deployment's: no tag call
                    continue
                tags = self.sagemaker.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]
                if {"Key": OWNER_TAG, "Value": self._owner} in tags:
                    names.append(name.removeprefix(self.group_prefix))
        return sorted(names)

    def register_version(self, model: str, model_card: dict[str, Any]) -> ModelVersion:
        self._group_arn(model)
        body = json.dumps(model_card, sort_keys=True).encode()
        # The card is stored first under its content hash, so the package never exists without it.
        card_key = layout.model_card(model, hashlib.sha256(body).hexdigest())
        self.artifacts.put_bytes(card_key, body, content_type="application/json")
        created = self.sagemaker.create_model_package(
            ModelPackageGroupName=self._group_name(model),
            ModelPackageDescription=str(model_card.get("description", ""))[:1024],
            ModelApprovalStatus=PENDING,
            CustomerMetadataProperties={CARD_KEY_PROPERTY: card_key},
        )
        return self.describe_version(model, int(created["ModelPackageArn"].rsplit("/", 1)[1]))

    def list_versions(self, model: str, status: str | None = None) -> list[ModelVersion]:
        self._group_arn(model)
        filters: dict[str, Any] = {"ModelPackageGroupName": self._group_name(model)}
        if status is not None:
            filters["ModelApprovalStatus"] = status
        versions = []
        for page in self.sagemaker.get_paginator("list_model_packages").paginate(**filters):
            versions.extend(self._to_version(model, p) for p in page["ModelPackageSummaryList"])
        return sorted(versions, key=lambda v: v.version)

    def _describe(self, model: str, version: int) -> dict[str, Any]:
        package_arn = self._group_arn(model).replace(":model-package-group/", ":model-package/")
        try:
            return self.sagemaker.describe_model_package(
                ModelPackageName=f"{package_arn}/{version}"
            )
        except self.sagemaker.exceptions.ClientError as error:
            if error_code(error) in ("ValidationException", "ResourceNotFound"):
                raise UnknownModelVersionError(
                    f"model {model!r} has no version {version}"
                ) from None
            raise

    def describe_version(self, model: str, version: int) -> ModelVersion:
        return self._to_version(model, self._describe(model, version))

    def get_model_card(self, model: str, version: int) -> dict[str, Any]:
        package = self._describe(model, version)
        key = (package.get("CustomerMetadataProperties") or {}).get(CARD_KEY_PROPERTY)
        if not key:
            raise UnknownModelVersionError(
                f"{model} v{version} was not registered by Edgeline: it has no model card"
            )
        return self.artifacts.get_json(key)

    def set_status(
        self, model: str, version: int, status: str, reason: str, by: str
    ) -> ModelVersion:
        package = self._describe(model, version)
        check_transition(model, version, package["ModelApprovalStatus"], status)
        check_decision(reason, by)
        properties = package.get("CustomerMetadataProperties") or {}
        self.sagemaker.update_model_package(
            ModelPackageArn=package["ModelPackageArn"],
            ModelApprovalStatus=status,
            ApprovalDescription=json.dumps({"reason": reason, "by": by})[:1024],
            # re-sent so the card reference survives implementations that reset it on update
            **({"CustomerMetadataProperties": properties} if properties else {}),
        )
        return self.describe_version(model, version)
