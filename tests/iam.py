"""Every AWS call Edgeline's code makes, checked against the least-privilege policy of the component
that made it (deploy/iam/*.json), action and resource: the policies cannot drift from the code.

tests/aws_calls.py records the calls, in the test process and in every process it starts. Here
each becomes what IAM authorises, one or more (action, resource ARN) pairs, and a pair passes when
an Allow statement of the component's policy names the action and a Resource pattern that matches
the ARN once the pattern's ``${VARIABLES}`` are bound to the configuration the call ran under (the
bucket and prefix, log group prefix and thing group of the resource that made it; the region),
and no Deny statement matches it."""

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

POLICIES = Path(__file__).resolve().parents[1] / "deploy" / "iam"
COMPONENT_POLICY = {
    "code-location": "code-location.json",
    "gateway": "gateway-lambda.json",
    "pi-device": "pi-device.json",
}
ACCOUNT = "123456789012"  # moto's account: the ARNs it returns carry it, ours are built with it
S3_OBJECT_ACTION = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}
S3_BUCKET_ACTION = {
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "GetBucketCors": "s3:GetBucketCORS",
}
# list operations that IAM authorises on no particular resource: they need Resource "*"
ACCOUNT_WIDE = {("sagemaker", "ListModelPackageGroups"), ("sagemaker", "ListModelPackages")}


class UnknownOperation(ValueError):
    """A call this checker cannot turn into IAM resources: teach ``authorizations`` about it."""


def authorizations(call: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs a recorded call needs."""
    service, operation, params = call["service"], call["operation"], call["params"]
    region = call["variables"]["AWS_REGION"]
    action = f"{service}:{operation}"
    if (service, operation) in ACCOUNT_WIDE:
        return [(action, "*")]
    if service == "s3" and operation in S3_OBJECT_ACTION:
        return [(S3_OBJECT_ACTION[operation], f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]
    if service == "s3" and operation in S3_BUCKET_ACTION:
        return [(S3_BUCKET_ACTION[operation], f"arn:aws:s3:::{params['Bucket']}")]
    if service == "logs" and "logGroupName" in params:
        group = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{params['logGroupName']}"
        if operation == "PutLogEvents":
            return [(action, f"{group}:log-stream:{params['logStreamName']}")]
        return [(action, group)]
    if service == "sagemaker":
        arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}"
        if operation == "CreateModelPackageGroup":  # tags given on create need AddTags too
            group = f"{arn}:model-package-group/{params['ModelPackageGroupName']}"
            return [(action, group)] + ([("sagemaker:AddTags", group)] if "Tags" in params else [])
        if operation == "DescribeModelPackageGroup":
            return [(action, f"{arn}:model-package-group/{params['ModelPackageGroupName']}")]
        if operation == "CreateModelPackage":  # its version is not known before the call
            return [(action, f"{arn}:model-package/{params['ModelPackageGroupName']}/*")]
        if operation == "DescribeModelPackage":
            name = params["ModelPackageName"]
            return [(action, name if name.startswith("arn:") else f"{arn}:model-package/{name}")]
        if operation == "UpdateModelPackage":
            return [(action, params["ModelPackageArn"])]
        if operation == "ListTags":
            return [(action, params["ResourceArn"])]
    if service == "iot" and operation in ("CreateJob", "DescribeJob"):
        job = f"arn:aws:iot:{region}:{ACCOUNT}:job/{params['jobId']}"
        return [(action, resource) for resource in [job, *params.get("targets", [])]]
    raise UnknownOperation(f"{service}.{operation}: tests/iam.py does not know its IAM resources")


def as_regex(pattern: str, variables: dict[str, str]) -> str | None:
    """An IAM pattern (``*``, ``?``, ``${VARIABLE}``) as a regular expression, its variables
    bound to ``variables``; None when one is not bound (the statement cannot apply)."""
    parts = []
    for part in re.split(r"(\$\{[^}]+\})", pattern):
        if part.startswith("${") and part.endswith("}"):
            if part[2:-1] not in variables:
                return None
            parts.append(re.escape(variables[part[2:-1]]))
        else:
            parts.append("".join({"*": ".*", "?": "."}.get(c, re.escape(c)) for c in part))
    return "".join(parts)


def _matches(patterns: str | list[str], value: str, variables: dict[str, str], flags: int) -> bool:
    listed = [patterns] if isinstance(patterns, str) else patterns
    regexes = (as_regex(p, variables) for p in listed)
    return any(r is not None and re.fullmatch(r, value, flags) for r in regexes)


@cache
def statements(policy_file: str) -> list[dict[str, Any]]:
    """The policy's statements; only Effect, Action and Resource are understood here."""
    document = json.loads((POLICIES / policy_file).read_text())
    for statement in document["Statement"]:
        unknown = set(statement) - {"Sid", "Effect", "Action", "Resource"}
        if unknown:
            raise ValueError(f"{policy_file}: the IAM check does not evaluate {sorted(unknown)}")
    return document["Statement"]


def allowed(policy_file: str, action: str, resource: str, variables: dict[str, str]) -> bool:
    """Whether the policy allows ``action`` on ``resource``: an Allow matches, no Deny does."""
    bound = {"AWS_ACCOUNT_ID": ACCOUNT, **variables}
    verdicts = {
        statement["Effect"]
        for statement in statements(policy_file)
        if _matches(statement["Action"], action, bound, re.IGNORECASE)  # actions ignore case
        and _matches(statement["Resource"], resource, bound, 0)
    }
    return verdicts == {"Allow"}


def read_calls(log: Path) -> list[dict[str, Any]]:
    """The calls recorded in ``log`` (none when nothing called AWS)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def violations(calls: Iterable[dict[str, Any]]) -> list[str]:
    """One line per component and action that its policy does not allow (on some resource)."""
    refused: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for call in calls:
        who = call["component"]
        try:
            needed = authorizations(call)
        except UnknownOperation as error:
            refused[(who, f"{call['service']}:{call['operation']}")][str(error)] += 1
            continue
        for action, resource in needed:
            if not allowed(COMPONENT_POLICY[who], action, resource, call["variables"]):
                refused[(who, action)][resource] += 1
    problems = []
    for (who, action), resources in sorted(refused.items()):
        (example, _), *others = resources.most_common()
        more = f" and {len(others)} more" if others else ""
        problems.append(
            f"{who} called {action} on {example}{more} ({resources.total()}x): "
            f"not allowed by deploy/iam/{COMPONENT_POLICY[who]}"
        )
    return problems
