"""Realistic CloudTrail S3 events (management and data), as CloudTrail writes them."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from s3logq.demo.access import (
    _TLS10,
    _TLS12,
    _TLS13,
    ADMIN,
    ALICE,
    BROWSER,
    LEGACY,
    PARTNER,
    PIPELINE,
    SCANNER,
    UA_BOTO3,
    UA_CHROME,
    UA_CLI,
    UA_CONSOLE,
    UA_JAVA,
    UA_PHP,
    _as_utc,
    _busyness,
    _host_id,
    _object_catalog,
    _profile,
    _request_id,
    _version_id,
    _weighted,
)
from s3logq.demo.common import _XMLNS, ACCOUNT_ID, HOME_REGION, OWNER_CANONICAL_ID, PARTNER_ACCOUNT_ID

# --------------------------------------------------------------------------------------------------------------
# CloudTrail events
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TrailActor:
    """A principal as CloudTrail records it."""

    kind: str
    name: str
    principal_id: str
    access_key: str
    ips: tuple[str, ...]
    user_agent: str
    account_id: str = ACCOUNT_ID
    session_issuer: str = ""
    tls: tuple[str, str] | None = _TLS12


_CT_CONSOLE_UA = f"[{UA_CONSOLE}]"
_TRAIL_ACTORS = {
    "alice": _TrailActor("IAMUser", "alice", "AIDACKCEVSQ6C2EXAMPLE", "AKIAIOSFODNN7EXAMPLE",
                         ALICE.ips, f"[{UA_CLI}]", tls=_TLS13),
    "pipeline": _TrailActor("AssumedRole", "i-0a1b2c3d4e5f67890", "AROADBQP57FF2AEXAMPLE", "ASIAY34FZKBOKMUTVV7A",
                            PIPELINE.ips, f"[{UA_BOTO3}]", session_issuer="DataPipelineRole"),
    "admin": _TrailActor("AssumedRole", "carol@acme.example", "AROA3JSSOEXAMPLE5F2C", "ASIA3JSSOEXAMPLEKEY1",
                         ADMIN.ips, _CT_CONSOLE_UA, session_issuer="AWSReservedSSO_AdministratorAccess_5f2c1d0e9b8a7f6e",
                         tls=_TLS13),
    "root": _TrailActor("Root", "root", ACCOUNT_ID, "ASIAROOTEXAMPLEKEY99", ("203.0.113.9",), _CT_CONSOLE_UA,
                        tls=_TLS13),
    "legacy": _TrailActor("IAMUser", "legacy-reporting", "AIDALEGACYEXAMPLE0001", "AKIALEGACYEXAMPLE001",
                          LEGACY.ips, f"[{UA_PHP}]", tls=_TLS10),
    "cloudtrail": _TrailActor("AWSService", "cloudtrail.amazonaws.com", "", "", ("cloudtrail.amazonaws.com",),
                              "cloudtrail.amazonaws.com"),
    "anonymous": _TrailActor("AWSAccount", "", "", "", BROWSER.ips, f"[{UA_CHROME}]", account_id="anonymous"),
    "anonymous_principal": _TrailActor("AWSAccount", "", "", "", SCANNER.ips, "[curl/8.4.0]",
                                       account_id="ANONYMOUS_PRINCIPAL"),
    "partner": _TrailActor("AWSAccount", "", "AIDAPARTNEREXAMPLE01", "", PARTNER.ips, f"[{UA_JAVA}]",
                           account_id=PARTNER_ACCOUNT_ID),
}

_DATA_MIX: tuple[tuple[tuple[str, tuple[str, ...]], float], ...] = (
    (("GetObject", ("alice", "pipeline", "admin", "partner")), 30),
    (("GetObject", ("anonymous", "anonymous_principal")), 10),
    (("PutObject", ("pipeline", "alice", "cloudtrail")), 18),
    (("HeadObject", ("pipeline", "alice", "admin")), 12),
    (("CopyObject", ("pipeline", "alice")), 3),
    (("DeleteObject", ("alice", "admin", "pipeline")), 4),
    (("DeleteObjects", ("pipeline", "admin")), 1.5),
    (("AccessDenied", ("legacy", "anonymous_principal", "partner", "alice")), 4),
)
_READ_ONLY_MANAGEMENT = ("ListBuckets", "GetBucketLocation", "GetBucketVersioning", "GetBucketAcl",
                         "GetBucketPolicyStatus", "GetBucketEncryption")


def _iso(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


class _TrailEvents:
    """Builds CloudTrail S3 events (real JSON shape) for one account and region."""

    def __init__(self, rng: random.Random, buckets: list[str], account_id: str, region: str) -> None:
        self.rng, self.buckets, self.account_id, self.region = rng, buckets, account_id, region
        self.catalogs = {bucket: _object_catalog(rng, _profile(bucket)) for bucket in buckets}

    def bucket_for(self, profile: str) -> str:
        """The first bucket with the given traffic profile, else the first bucket."""
        return next((b for b in self.buckets if _profile(b) == profile), self.buckets[0])

    def identity(self, actor: _TrailActor, when: datetime) -> dict:
        if actor.kind == "AWSService":
            return {"type": "AWSService", "invokedBy": actor.name}
        if actor.kind == "AWSAccount":
            return {"type": "AWSAccount", "principalId": actor.principal_id, "accountId": actor.account_id}
        arn = {"IAMUser": f"arn:aws:iam::{self.account_id}:user/{actor.name}",
               "Root": f"arn:aws:iam::{self.account_id}:root",
               "AssumedRole": f"arn:aws:sts::{self.account_id}:assumed-role/{actor.session_issuer}/{actor.name}"}
        principal = f"{actor.principal_id}:{actor.name}" if actor.kind == "AssumedRole" else actor.principal_id
        found: dict = {"type": actor.kind, "principalId": principal, "arn": arn[actor.kind], "accountId": self.account_id,
                        "accessKeyId": actor.access_key}
        if actor.kind == "IAMUser":
            found["userName"] = actor.name
        if actor.kind in ("AssumedRole", "Root"):
            found["sessionContext"] = self.session_context(actor, when)
        return found

    def session_context(self, actor: _TrailActor, when: datetime) -> dict:
        started = _as_utc(when).replace(minute=0, second=0) - timedelta(minutes=self.rng.choice((3, 17, 42)))
        context: dict = {"attributes": {"creationDate": _iso(started),
                                        "mfaAuthenticated": "true" if actor.kind == "Root" else "false"}}
        if actor.kind == "AssumedRole":
            context = {"sessionIssuer": {
                "type": "Role", "principalId": actor.principal_id,
                "arn": f"arn:aws:iam::{self.account_id}:role/{actor.session_issuer}",
                "accountId": self.account_id, "userName": actor.session_issuer}, **context}
        return context

    def event(self, when: datetime, name: str, actor_name: str, bucket: str | None, params: dict, *,
              management: bool, response: dict | None = None, error: bool = False,
              bytes_out: int = 0, bytes_in: int = 0, resources: list[dict] | None = None) -> dict:
        """One event with the common fields, in CloudTrail's key order."""
        rng, actor = self.rng, _TRAIL_ACTORS[actor_name]
        host = f"{bucket}.s3.{self.region}.amazonaws.com" if bucket else f"s3.{self.region}.amazonaws.com"
        event: dict = {"eventVersion": "1.09", "userIdentity": self.identity(actor, when), "eventTime": _iso(when),
                       "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": self.region,
                       "sourceIPAddress": rng.choice(actor.ips), "userAgent": actor.user_agent}
        if error:
            event.update(errorCode="AccessDenied", errorMessage="Access Denied")
        event["requestParameters"] = {"bucketName": bucket, "Host": host, **params} if bucket else params
        event["responseElements"] = None if error else response
        event["additionalEventData"] = self.additional_data(actor, bytes_in, bytes_out)
        event.update(requestID=_request_id(rng), eventID=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                     readOnly=name.startswith(("Get", "Head", "List")),
                     resources=resources if resources is not None else self.bucket_resources(bucket),
                     eventType="AwsApiCall", managementEvent=management, recipientAccountId=self.account_id)
        self.add_extras(event, actor_name)
        event["eventCategory"] = "Management" if management else "Data"
        if actor.tls:
            event["tlsDetails"] = {"tlsVersion": actor.tls[0], "cipherSuite": actor.tls[1],
                                   "clientProvidedHostHeader": host}
        return event

    def additional_data(self, actor: _TrailActor, bytes_in: int, bytes_out: int) -> dict:
        data: dict = {} if actor.kind == "AWSAccount" and not actor.principal_id else {
            "SignatureVersion": "SigV2" if actor.name == "legacy-reporting" else "SigV4"}
        data.update(CipherSuite=actor.tls[1] if actor.tls else "", bytesTransferredIn=bytes_in)
        if "SignatureVersion" in data:
            data["AuthenticationMethod"] = "AuthHeader"
        data.update({"x-amz-id-2": _host_id(self.rng), "bytesTransferredOut": bytes_out})
        return data

    def add_extras(self, event: dict, actor_name: str) -> None:
        """Fields outside the usual list: VPC endpoint details and cross-account shared event IDs."""
        if actor_name == "pipeline":
            event.update(vpcEndpointId="vpce-0a1b2c3d4e5f6a7b8", vpcEndpointAccountId=self.account_id)
        if actor_name == "partner":
            event["sharedEventID"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def bucket_resources(self, bucket: str | None) -> list[dict]:
        if bucket is None:
            return []
        return [{"accountId": self.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]

    def object_resources(self, bucket: str, key: str) -> list[dict]:
        return [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"}, *self.bucket_resources(bucket)]

    # ---- data events -------------------------------------------------------------------------------------

    def data_event(self, when: datetime) -> dict:
        """A random object-level call, weighted the way real traffic is."""
        name, actors = _weighted(self.rng, _DATA_MIX)
        actor = self.rng.choice(actors)
        bucket = {"anonymous": self.bucket_for("public"), "cloudtrail": self.bucket_for("archive")}.get(
            actor, self.rng.choice(self.buckets))
        key, size = self.rng.choice(self.catalogs[bucket])
        if name == "AccessDenied" or (actor.startswith("anonymous") and _profile(bucket) != "public"):
            return self.object_event(when, self.rng.choice(("GetObject", "PutObject", "DeleteObject")), actor,
                                     bucket, key, 0, error=True)
        return self.object_event(when, name, actor, bucket, key, size)

    def object_event(self, when: datetime, name: str, actor: str, bucket: str, key: str, size: int, *,
                     error: bool = False) -> dict:
        params: dict = {"key": key}
        response: dict | None = None
        resources = self.object_resources(bucket, key)
        bytes_in, bytes_out = (size, 0) if name == "PutObject" else (0, size if name == "GetObject" else 0)
        if name == "PutObject":
            response = {"x-amz-server-side-encryption": "AES256"}
            if _profile(bucket) == "data":
                response["x-amz-version-id"] = _version_id(self.rng)
        elif name == "CopyObject":
            params = {"x-amz-copy-source": f"{bucket}/{quote(key)}", "key": f"archive/{key}"}
            response = {"x-amz-server-side-encryption": "AES256", "CopyObjectResult": {
                "ETag": f'"{self.rng.getrandbits(128):032x}"', "LastModified": _iso(when)}}
            resources = self.object_resources(bucket, f"archive/{key}") + resources[:1]
        elif name == "DeleteObjects":
            params = {"delete": ""}
            resources = [{"type": "AWS::S3::Object", "ARNPrefix": f"arn:aws:s3:::{bucket}/"},
                         *self.bucket_resources(bucket)]
        return self.event(when, name, actor, bucket, params, management=False, response=response, error=error,
                          bytes_in=bytes_in, bytes_out=bytes_out if not error else 0, resources=resources)

    def read_only_management(self, when: datetime) -> dict:
        name = self.rng.choice(_READ_ONLY_MANAGEMENT)
        actor = self.rng.choice(("admin", "pipeline", "alice"))
        if name == "ListBuckets":
            return self.event(when, name, actor, None, {"Host": f"s3.{self.region}.amazonaws.com"}, management=True)
        suffix = {"GetBucketLocation": "location", "GetBucketVersioning": "versioning", "GetBucketAcl": "acl",
                  "GetBucketPolicyStatus": "policyStatus", "GetBucketEncryption": "encryption"}[name]
        return self.event(when, name, actor, self.rng.choice(self.buckets), {suffix: ""}, management=True,
                          bytes_out=self.rng.randint(200, 900))

    # ---- bucket configuration changes --------------------------------------------------------------------

    def configuration_story(self, start: datetime, hours: int) -> list[dict]:
        """The bucket-level changes of the period, in a fixed order at random times."""
        steps = self.story_steps()
        seconds = sorted(self.rng.randrange(hours * 3600) for _ in steps)
        return [self.event(start + timedelta(seconds=offset), name, actor, bucket, params, management=True,
                           error=actor == "legacy", resources=[] if bucket is None else None)
                for offset, (name, actor, bucket, params) in zip(seconds, steps, strict=True)]

    def story_steps(self) -> list[tuple[str, str, str | None, dict]]:
        """(eventName, actor, bucket, request body) for each change; some need a data or a public bucket."""
        primary, archive, public = self.buckets[0], self.bucket_for("archive"), self.bucket_for("public")
        has_data, has_public = _profile(primary) == "data", _profile(public) == "public"
        scratch = f"acme-scratch-{self.rng.getrandbits(24):06x}"
        steps = [
            ("CreateBucket", "alice", scratch, self.create_bucket_params(), True),
            ("PutBucketVersioning", "admin", primary, _versioning("Enabled"), has_data),
            ("PutBucketEncryption", "admin", primary, self.encryption_params(), True),
            ("PutBucketTagging", "pipeline", primary, _tagging({"team": "data", "cost-center": "cc-1042"}), True),
            ("PutBucketLifecycle", "admin", archive, _lifecycle(), True),
            ("PutBucketReplication", "admin", primary, self.replication_params(), has_data),
            ("PutAccountPublicAccessBlock", "root", None, _account_public_access_block(self.region),
             self.region == HOME_REGION),
            ("PutBucketPublicAccessBlock", "admin", public, _public_access_block(block_policy=False), has_public),
            ("PutBucketPolicy", "admin", public, _policy_params(_public_read_policy(public)), has_public),
            ("PutBucketAcl", "admin", public, _public_read_acl(), has_public),
            ("PutBucketPolicy", "legacy", primary, _policy_params(_tls_only_policy(primary)), has_data),
            ("DeleteBucketPublicAccessBlock", "alice", scratch, {"publicAccessBlock": ""}, True),
            ("PutBucketVersioning", "pipeline", primary, _versioning("Suspended"), has_data),
            ("DeleteBucketLifecycle", "admin", archive, {"lifecycle": ""}, True),
            ("PutBucketPolicy", "admin", primary, _policy_params(_tls_only_policy(primary)), True),
            ("PutBucketPublicAccessBlock", "admin", scratch, _public_access_block(block_policy=True), True),
            ("DeleteBucketPolicy", "alice", scratch, {"policy": ""}, True),
            ("PutBucketTagging", "alice", scratch, _tagging({"owner": "alice", "purpose": "scratch"}), True),
            ("DeleteBucket", "alice", scratch, {}, True),
        ]
        return [(name, actor, bucket, params) for name, actor, bucket, params, wanted in steps if wanted]

    def create_bucket_params(self) -> dict:
        if self.region == "us-east-1":
            return {}
        return {"CreateBucketConfiguration": {"LocationConstraint": self.region, "xmlns": _XMLNS}}

    def encryption_params(self) -> dict:
        key_arn = f"arn:aws:kms:{self.region}:{self.account_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        return {"encryption": "", "ServerSideEncryptionConfiguration": {"xmlns": _XMLNS, "Rule": {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": True}}}

    def replication_params(self) -> dict:
        return {"replication": "", "ReplicationConfiguration": {
            "xmlns": _XMLNS, "Role": f"arn:aws:iam::{self.account_id}:role/s3-replication-role",
            "Rule": {"ID": "to-eu-backup", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                     "DeleteMarkerReplication": {"Status": "Disabled"},
                     "Destination": {"Bucket": "arn:aws:s3:::acme-eu-backup", "StorageClass": "STANDARD_IA"}}}}


def _versioning(status: str) -> dict:
    return {"versioning": "", "VersioningConfiguration": {"Status": status, "xmlns": _XMLNS}}


def _tagging(tags: dict[str, str]) -> dict:
    tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
    return {"tagging": "", "Tagging": {"xmlns": _XMLNS, "TagSet": {"Tag": tag_list}}}


def _lifecycle() -> dict:
    rule = {"ID": "archive-then-expire", "Status": "Enabled", "Filter": {"Prefix": "app/"},
            "Transition": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"},
                           {"Days": 180, "StorageClass": "DEEP_ARCHIVE"}],
            "Expiration": {"Days": 365},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}
    return {"lifecycle": "", "LifecycleConfiguration": {"xmlns": _XMLNS, "Rule": rule}}


def _public_access_block(*, block_policy: bool) -> dict:
    return {"publicAccessBlock": "", "PublicAccessBlockConfiguration": {
        "xmlns": _XMLNS, "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": block_policy,
        "RestrictPublicBuckets": block_policy}}


def _account_public_access_block(region: str) -> dict:
    settings = _public_access_block(block_policy=True)["PublicAccessBlockConfiguration"]
    return {"PublicAccessBlockConfiguration": settings, "Host": f"{ACCOUNT_ID}.s3-control.{region}.amazonaws.com"}


def _policy_params(policy: dict) -> dict:
    return {"bucketPolicy": policy, "policy": ""}


def _public_read_policy(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicReadGetObject", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}


def _tls_only_policy(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def _public_read_acl() -> dict:
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    grants = [
        {"Grantee": {"xmlns:xsi": xsi, "xsi:type": "CanonicalUser", "ID": OWNER_CANONICAL_ID},
         "Permission": "FULL_CONTROL"},
        {"Grantee": {"xmlns:xsi": xsi, "xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
         "Permission": "READ"},
    ]
    return {"acl": "", "AccessControlPolicy": {"xmlns": _XMLNS, "AccessControlList": {"Grant": grants},
                                               "Owner": {"ID": OWNER_CANONICAL_ID}}}


def cloudtrail_records(rng: random.Random, start: datetime, hours: int, buckets: list[str], account_id: str,
                       region: str) -> Iterator[dict]:
    """CloudTrail S3 events (data and management) for ``buckets`` over ``hours``, in time order."""
    start = _as_utc(start).replace(minute=0, second=0, microsecond=0)
    maker = _TrailEvents(rng, list(buckets), account_id, region)
    events = maker.configuration_story(start, max(hours, 1))
    for hour in range(hours):
        hour_start = start + timedelta(hours=hour)
        for _ in range(round(len(buckets) * rng.uniform(5, 12) * _busyness(hour_start))):
            events.append(maker.data_event(hour_start + timedelta(seconds=rng.randrange(3600))))
        if rng.random() < 0.6:
            events.append(maker.read_only_management(hour_start + timedelta(seconds=rng.randrange(3600))))
    yield from sorted(events, key=lambda event: event["eventTime"])


