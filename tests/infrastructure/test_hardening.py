"""The deployed stack's security posture (issue 17 §5), read from template.yaml and serverless.yml:
function environments encrypted with the stack's key, access logs for the HTTP API and the backup
bucket, log groups with retention and the key, capped and dead-lettered queue and schedule
consumers, an optional VPC."""

from __future__ import annotations

import functools

import yaml

from ._tools import SERVERLESS, TEMPLATE, load_cfn_yaml, sam_as_sls

KEY_ARN = {"Fn::GetAtt": ["Key", "Arn"]}


@functools.cache
def _sam() -> dict:
    return load_cfn_yaml(TEMPLATE)


@functools.cache
def _sls() -> dict:
    with open(SERVERLESS, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=yaml.SafeLoader)


def _sam_functions() -> dict[str, dict]:
    return {
        lid: r["Properties"]
        for lid, r in _sam()["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def _sam_trigger_kinds(props: dict) -> set[str]:
    return {ev["Type"] for ev in (props.get("Events") or {}).values()}


def _key_statements() -> list[dict]:
    return _sam()["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"]


def test_function_environments_are_encrypted_with_the_stacks_key():
    """Given both files, then every function's environment is encrypted with Key, and Key's policy
    lets Lambda use it (through the Lambda service, for this account only)."""
    assert _sam()["Globals"]["Function"]["KmsKeyArn"] == KEY_ARN
    assert all("KmsKeyArn" not in p or p["KmsKeyArn"] == KEY_ARN for p in _sam_functions().values())
    assert _sls()["provider"]["kmsKeyArn"] == KEY_ARN
    via = next(s for s in _key_statements() if s["Sid"] == "AccountUsesThroughDataServices")
    services = via["Condition"]["StringEquals"]["kms:ViaService"]
    assert {"Fn::Sub": "lambda.${AWS::Region}.${AWS::URLSuffix}"} in services


def test_cloudwatch_logs_may_use_the_key_for_this_accounts_log_groups_only():
    logs = next(s for s in _key_statements() if s["Sid"] == "CloudWatchLogsEncryptLogGroups")
    assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.${AWS::URLSuffix}"}}
    arn = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert arn == {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}


def _log_group(logical_id: str) -> dict:
    group = _sam()["Resources"][logical_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    return group["Properties"]


def test_log_groups_keep_logs_for_the_retention_period_encrypted_with_the_key():
    """Every log group the template declares has a retention (the LogRetentionInDays parameter,
    a year by default) and the stack's key."""
    param = _sam()["Parameters"]["LogRetentionInDays"]
    assert param["Default"] >= 365
    groups = [lid for lid, r in _sam()["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"]
    assert {"ApiAccessLogGroup", "FunctionsLogGroup"} <= set(groups)
    for lid in groups:
        props = _log_group(lid)
        assert props["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, lid
        assert props["KmsKeyId"] == KEY_ARN, lid


def test_functions_log_to_the_stacks_log_group():
    """Lambda's implicit per-function groups never expire and are not encrypted with the key:
    the functions write to FunctionsLogGroup instead (a log stream per function instance)."""
    config = _sam()["Globals"]["Function"]["LoggingConfig"]
    assert config["LogGroup"] == {"Ref": "FunctionsLogGroup"}
    assert all("LoggingConfig" not in p for p in _sam_functions().values())


def test_http_api_writes_access_logs():
    """Given the HTTP API, then its stage writes JSON access logs (request id, caller, route,
    status, latency) to ApiAccessLogGroup; serverless.yml turns on its own HTTP API access log."""
    settings = _sam()["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    for field in ("$context.requestId", "$context.identity.sourceIp", "$context.routeKey", "$context.status"):
        assert field in settings["Format"], field
    assert _sls()["provider"]["logs"]["httpApi"]["format"] == settings["Format"]


def test_backup_bucket_access_is_logged_to_a_log_bucket():
    """Given the backup bucket, then S3 server access logs go to AccessLogBucket, which only S3's
    log delivery for that bucket may write, over TLS, and which expires logs after the retention."""
    res = _sam()["Resources"]
    logging = res["BackupBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    log_bucket = res["AccessLogBucket"]["Properties"]
    # S3 server access logging delivers only to SSE-S3 buckets (not SSE-KMS).
    sse = log_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert all(log_bucket["PublicAccessBlockConfiguration"].values())
    assert log_bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    statements = res["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    delivery = next(s for s in statements if s["Sid"] == "S3ServerAccessLogDelivery")
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::GetAtt": ["BackupBucket", "Arn"]}
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    sls = _sls()["resources"]["Resources"]
    for lid in ("BackupBucket", "AccessLogBucket", "AccessLogBucketPolicy"):
        assert sls[lid]["Properties"] == sam_as_sls(res[lid]["Properties"]), lid


def test_queue_and_schedule_consumers_are_capped_and_dead_lettered():
    """Given a function triggered by a queue or a schedule, then it has reserved concurrency and a
    dead-letter queue of the stack (encrypted, alarmed); an SQS trigger never scales past the
    function's reservation (MaximumConcurrency), so throttling cannot push messages to the DLQ."""
    res = _sam()["Resources"]
    consumers = {
        lid: p for lid, p in _sam_functions().items() if _sam_trigger_kinds(p) & {"SQS", "ScheduleV2"}
    }
    # + backup and drill sweeps (issue 12); health_sweep, health_check, collect_metrics, autoscale,
    # deliver_notifications, dispatch_events, alert_sweep (issue 11)
    assert len(consumers) == 15
    for lid, props in consumers.items():
        assert "ReservedConcurrentExecutions" in props, lid
        target = props["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
        assert props["DeadLetterQueue"]["Type"] == "SQS"
        assert res[target]["Type"] == "AWS::SQS::Queue" and res[target]["Properties"]["KmsMasterKeyId"] == {
            "Ref": "Key"
        }, lid
        alarmed = {
            r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
            for r in res.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        }
        assert target in alarmed, lid
        for ev in props["Events"].values():
            if ev["Type"] == "SQS":
                scaling = ev["Properties"]["ScalingConfig"]
                assert scaling["MaximumConcurrency"] == props["ReservedConcurrentExecutions"], lid
            else:
                assert ev["Properties"]["DeadLetterConfig"]["Arn"] == props["DeadLetterQueue"]["TargetArn"]
    sls = _sls()["functions"]
    for folder, fn in sls.items():
        kinds = {next(iter(ev)) for ev in fn.get("events") or []}
        if kinds & {"sqs", "schedule"}:
            assert "reservedConcurrency" in fn, folder
            assert fn["onError"]["Fn::GetAtt"][1] == "Arn", folder
            assert fn["onError"]["Fn::GetAtt"][0].endswith("DeadLetterQueue"), folder


def test_vpc_is_optional_by_parameters():
    """Given VpcSubnetIds and VpcSecurityGroupIds, then functions join that VPC; left empty (the
    default), they run outside any VPC."""
    params = _sam()["Parameters"]
    assert params["VpcSubnetIds"]["Default"] == "" and params["VpcSecurityGroupIds"]["Default"] == ""
    assert "HasVpc" in _sam()["Conditions"]
    vpc = _sam()["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert vpc[0] == "HasVpc"
    assert vpc[1] == {
        "SubnetIds": {"Ref": "VpcSubnetIds"},
        "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"},
    }
    assert vpc[2] == {"Ref": "AWS::NoValue"}


def _sls_logical_id(folder: str) -> str:
    """serverless@3's normalized name of a function (``run_job`` -> ``RunUnderscorejob``)."""
    name = folder.replace("-", "Dash").replace("_", "Underscore")
    return name[0].upper() + name[1:]


def test_serverless_extends_every_function_and_log_group_it_generates():
    """serverless@3 has no keys for a log group's KMS key or a conditional VPC: resources.extensions
    adds them to each generated function and log group. Given serverless.yml, then every function
    has its VpcConfig (HasVpc) and every function's log group the stack's key; a function without
    a DLQ and a reservation says why (checkov Metadata), as in template.yaml."""
    sls = _sls()
    extensions = sls["resources"]["extensions"]
    assert sls["resources"]["Conditions"]["HasVpc"] == {
        "Fn::Not": [{"Fn::Equals": ["${param:vpcSubnetIds}", ""]}]
    }
    for folder, fn in sls["functions"].items():
        lid = _sls_logical_id(folder)
        function = extensions[f"{lid}LambdaFunction"]
        assert function["Properties"]["VpcConfig"]["Fn::If"][0] == "HasVpc", folder
        assert extensions[f"{lid}LogGroup"]["Properties"]["KmsKeyId"] == KEY_ARN, folder
        skipped = {s["id"] for s in (function.get("Metadata") or {}).get("checkov", {}).get("skip", [])}
        if "reservedConcurrency" in fn:
            assert "onError" in fn and not skipped, folder
        else:
            assert skipped == {"CKV_AWS_115", "CKV_AWS_116"}, folder
    assert extensions["HttpApiLogGroup"]["Properties"]["KmsKeyId"] == KEY_ARN
