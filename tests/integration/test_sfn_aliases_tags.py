"""Aliases, version deletion and tags on the Step Functions-compatible endpoint, driven by boto3 against
a real `pilothouse dev` (one server for this module, as test_sfn_endpoint has)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from tests.support.controlplane import ADMIN_KEY
from tests.support.sfn_endpoint import PASS_FLOW, ROLE, client, code, finished, new_key, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("sfn")) as srv:
        yield srv


@pytest.fixture(scope="module")
def sfn(server):
    return client(server, ADMIN_KEY)


ONE = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "one", "End": True}}}
TWO = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "two", "End": True}}}


def machine_with_two_versions(sfn, name: str) -> tuple[str, str, str]:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(ONE), roleArn=ROLE, publish=True)
    v1 = arn["stateMachineVersionArn"]
    v2 = sfn.update_state_machine(
        stateMachineArn=arn["stateMachineArn"], definition=json.dumps(TWO), publish=True
    )["stateMachineVersionArn"]
    return arn["stateMachineArn"], v1, v2


def test_an_alias_routes_starts_to_its_versions_by_weight(sfn):
    # Given a state machine with two published versions
    arn, v1, v2 = machine_with_two_versions(sfn, "aliased")
    # When an alias points at version 1 only
    made = sfn.create_state_machine_alias(
        name="live", description="prod", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )
    live = made["stateMachineAliasArn"]
    assert live == arn + ":live"
    # Then creating it again the same way is idempotent, and differently is a conflict
    again = sfn.create_state_machine_alias(
        name="live", description="prod", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )
    assert again["creationDate"] == made["creationDate"]
    with pytest.raises(sfn.exceptions.ConflictException):
        sfn.create_state_machine_alias(
            name="live", routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}]
        )
    d = sfn.describe_state_machine_alias(stateMachineAliasArn=live)
    assert (d["name"], d["description"]) == ("live", "prod")
    assert d["routingConfiguration"] == [{"stateMachineVersionArn": v1, "weight": 100}]
    # a start on the alias runs version 1's definition
    ex = sfn.start_execution(stateMachineArn=live, name="via-alias")["executionArn"]
    assert json.loads(finished(sfn, ex)["output"]) == "one"

    # When it is updated to split 50/50 between the versions, starts reach both
    sfn.update_state_machine_alias(
        stateMachineAliasArn=live,
        routingConfiguration=[
            {"stateMachineVersionArn": v1, "weight": 50},
            {"stateMachineVersionArn": v2, "weight": 50},
        ],
    )
    runs = [sfn.start_execution(stateMachineArn=live, name=f"split-{i}")["executionArn"] for i in range(40)]
    outputs = Counter(json.loads(finished(sfn, r)["output"]) for r in runs)
    assert set(outputs) == {"one", "two"}  # P(all 40 on one side) = 2 * 2**-40
    # and the update with the same values again changes nothing
    before = sfn.describe_state_machine_alias(stateMachineAliasArn=live)["updateDate"]
    sfn.update_state_machine_alias(stateMachineAliasArn=live, description="prod")
    assert sfn.describe_state_machine_alias(stateMachineAliasArn=live)["updateDate"] == before

    listed = sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"]
    assert [a["stateMachineAliasArn"] for a in listed] == [live]
    # a version an alias routes to cannot be deleted
    with pytest.raises(sfn.exceptions.ConflictException):
        sfn.delete_state_machine_version(stateMachineVersionArn=v1)
    sfn.delete_state_machine_alias(stateMachineAliasArn=live)
    with pytest.raises(sfn.exceptions.ResourceNotFound) as err:
        sfn.describe_state_machine_alias(stateMachineAliasArn=live)
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.delete_state_machine_alias(stateMachineAliasArn=live)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn=live)
    assert sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"] == []


def test_routing_configurations_are_checked_as_aws_does(sfn):
    arn, v1, v2 = machine_with_two_versions(sfn, "routing")
    _, o1, _ = machine_with_two_versions(sfn, "other")
    bad = [
        [{"stateMachineVersionArn": v1, "weight": 60}],  # weights must add up to 100
        [{"stateMachineVersionArn": v1, "weight": 50}, {"stateMachineVersionArn": v1, "weight": 50}],
        [{"stateMachineVersionArn": v1, "weight": 50}, {"stateMachineVersionArn": o1, "weight": 50}],
        [{"stateMachineVersionArn": arn, "weight": 100}],  # not a version
    ]
    for routing in bad:
        with pytest.raises(ClientError) as err:
            sfn.create_state_machine_alias(name="x", routingConfiguration=routing)
        assert code(err) == "ValidationException", routing
    with pytest.raises(ClientError) as err:  # boto3 itself checks 0..100 and 1..2 entries; bodies could not
        sfn.create_state_machine_alias(
            name="x", routingConfiguration=[{"stateMachineVersionArn": arn + ":9", "weight": 100}]
        )
    assert code(err) == "ResourceNotFound"
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.create_state_machine_alias(
            name="123", routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}]
        )
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_state_machine_alias(
            stateMachineAliasArn="arn:aws:lambda:us-east-1:123456789012:function:f"
        )
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine_alias(stateMachineAliasArn=arn + ":nope", description="d")
    assert code(err) == "ResourceNotFound"


def test_deleted_versions_are_gone_and_their_numbers_never_come_back(sfn):
    arn, v1, v2 = machine_with_two_versions(sfn, "versioned")
    sfn.delete_state_machine_version(stateMachineVersionArn=v2)
    sfn.delete_state_machine_version(stateMachineVersionArn=v2)  # what is gone is deleted: success
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=v2)
    assert json.loads(sfn.describe_state_machine(stateMachineArn=v1)["definition"]) == ONE
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(PASS_FLOW))
    v3 = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    assert v3 == arn + ":3"  # 2 is not given again
    with pytest.raises(ClientError) as err:
        sfn.delete_state_machine_version(stateMachineVersionArn=arn)
    assert code(err) == "ValidationException"


def test_tags_are_set_listed_and_removed(sfn):
    arn = sfn.create_state_machine(
        name="tagged", definition=json.dumps(ONE), roleArn=ROLE, tags=[{"key": "team", "value": "core"}]
    )["stateMachineArn"]
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "core"}]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "dev"}, {"key": "team", "value": "edge"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "env", "value": "dev"},
        {"key": "team", "value": "edge"},
    ]
    sfn.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "dev"}]

    with pytest.raises(sfn.exceptions.TooManyTags) as err:
        sfn.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    assert err.value.response["resourceName"] == arn
    assert len(sfn.list_tags_for_resource(resourceArn=arn)["tags"]) == 1  # refused whole
    for tags in ([{"key": "aws:reserved", "value": "x"}], [{"key": "bad<chars>", "value": "x"}]):
        with pytest.raises(ClientError) as err:
            sfn.tag_resource(resourceArn=arn, tags=tags)
        assert code(err) == "ValidationException"
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.list_tags_for_resource(resourceArn=arn.replace("tagged", "untagged"))
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.tag_resource(resourceArn=arn + ":1", tags=[{"key": "a", "value": "b"}])


def test_a_viewer_reads_aliases_and_tags_but_cannot_change_them(server, sfn):
    arn, v1, _ = machine_with_two_versions(sfn, "guarded")
    live = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )["stateMachineAliasArn"]
    viewer = client(server, new_key(server, "viewer"))
    assert viewer.describe_state_machine_alias(stateMachineAliasArn=live)["name"] == "live"
    assert viewer.list_tags_for_resource(resourceArn=arn)["tags"] == []
    refused = [
        lambda: viewer.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "b"}]),
        lambda: viewer.untag_resource(resourceArn=arn, tagKeys=["a"]),
        lambda: viewer.delete_state_machine_alias(stateMachineAliasArn=live),
        lambda: viewer.update_state_machine_alias(stateMachineAliasArn=live, description="x"),
        lambda: viewer.delete_state_machine_version(stateMachineVersionArn=v1),
        lambda: viewer.create_state_machine_alias(
            name="mine", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
        ),
        lambda: viewer.start_execution(stateMachineArn=live),
    ]
    for call in refused:
        with pytest.raises(ClientError) as err:
            call()
        assert code(err) == "AccessDeniedException"
    assert (
        sfn.describe_state_machine_alias(stateMachineAliasArn=live)["routingConfiguration"][0]["weight"]
        == 100
    )


def test_forged_alias_arns_weights_and_tag_lists_are_refused(sfn):
    """What a caller may forge: an alias ARN with a traversal, a test case or another account; a
    boolean or fractional weight (boto3 is bypassed by a raw body through its serializer's model, so
    the values are sent as given); a tag list far over the limit; a shipped workflow's name."""
    arn, v1, _ = machine_with_two_versions(sfn, "forged")
    for forged in (arn + ":../x", arn + ":live#Case", arn.replace("123456789012", "999999999999") + ":live"):
        with pytest.raises(ClientError) as err:
            sfn.describe_state_machine_alias(stateMachineAliasArn=forged)
        assert code(err) in ("InvalidArn", "ResourceNotFound"), forged
    with pytest.raises(ClientError) as err:
        sfn.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(5000)])
    assert code(err) == "TooManyTags"
    reserved = arn.replace(":forged", ":pilothouse-deployment-plan")
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine_alias(
            name="mine", routingConfiguration=[{"stateMachineVersionArn": reserved + ":1", "weight": 100}]
        )
    assert code(err) in ("ResourceNotFound", "AccessDeniedException")
    with pytest.raises(ClientError) as err:
        sfn.tag_resource(resourceArn=reserved, tags=[{"key": "a", "value": "b"}])
    assert code(err) in ("ResourceNotFound", "AccessDeniedException")


def test_bodies_boto3_would_not_send_get_validation_errors(server):
    """With boto3's own parameter checks off, the server still refuses a boolean or fractional
    weight, a weight over 100, three routes and a tag key that is not a string."""
    import boto3
    from botocore.config import Config

    from tests.support.controlplane import ADMIN_KEY

    raw = boto3.client(
        "stepfunctions",
        endpoint_url=f"{server.url}/sfn",
        region_name="us-east-1",
        aws_access_key_id=ADMIN_KEY.split("_")[1],
        aws_secret_access_key=ADMIN_KEY,
        aws_session_token=ADMIN_KEY,
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False, parameter_validation=False),
    )
    arn, v1, v2 = machine_with_two_versions(raw, "rawbodies")
    routings = [
        [{"stateMachineVersionArn": v1, "weight": True}],
        [{"stateMachineVersionArn": v1, "weight": 100.5}],
        [{"stateMachineVersionArn": v1, "weight": 150}, {"stateMachineVersionArn": v2, "weight": -50}],
        [{"stateMachineVersionArn": v} for v in (v1, v2, v1)],
    ]
    for routing in routings:
        with pytest.raises(ClientError) as err:
            raw.create_state_machine_alias(name="x", routingConfiguration=routing)
        assert code(err) in ("ValidationException", "SerializationException"), routing
    with pytest.raises(ClientError) as err:
        raw.tag_resource(resourceArn=arn, tags=[{"key": 7, "value": "b"}])
    assert code(err) in ("ValidationException", "SerializationException")
    assert raw.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"] == []


def test_an_alias_never_routes_to_a_version_deleted_at_the_same_time(server, sfn):
    """Given CreateStateMachineAlias and DeleteStateMachineVersion of the same version racing, 50
    times, then either the alias exists and routes to a version that exists, or the version is gone
    and the alias was refused: never an alias to a deleted version."""
    import threading

    from tests.support.controlplane import ADMIN_KEY

    arn = sfn.create_state_machine(name="racing", definition=json.dumps(ONE), roleArn=ROLE)["stateMachineArn"]
    creator, deleter = client(server, ADMIN_KEY), client(server, ADMIN_KEY)
    outcomes: Counter = Counter()
    for i in range(50):
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps({**ONE, "Comment": str(i)}))
        version = sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def create(i=i, version=version, barrier=barrier, results=results):
            barrier.wait()
            try:
                creator.create_state_machine_alias(
                    name=f"a{i}", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}]
                )
                results["create"] = "ok"
            except ClientError as exc:
                results["create"] = exc.response["Error"]["Code"]

        def delete(version=version, barrier=barrier, results=results):
            barrier.wait()
            try:
                deleter.delete_state_machine_version(stateMachineVersionArn=version)
                results["delete"] = "ok"
            except ClientError as exc:
                results["delete"] = exc.response["Error"]["Code"]

        threads = [threading.Thread(target=create), threading.Thread(target=delete)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        outcomes[(results["create"], results["delete"])] += 1
        aliases = [
            a["stateMachineAliasArn"]
            for a in sfn.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"]
        ]
        try:
            sfn.describe_state_machine(stateMachineArn=version)
            exists = True
        except sfn.exceptions.StateMachineDoesNotExist:
            exists = False
        if f"{arn}:a{i}" in aliases:
            assert exists and results == {"create": "ok", "delete": "ConflictException"}, results
            sfn.delete_state_machine_alias(stateMachineAliasArn=f"{arn}:a{i}")
        else:
            assert not exists and results == {"create": "ResourceNotFound", "delete": "ok"}, results
    assert sum(outcomes.values()) == 50


def test_executions_name_the_version_and_alias_they_were_started_through(sfn):
    """Given a state machine with two versions and an alias on version 1, when executions start on
    the alias, on version 2 and on the state machine itself, then DescribeExecution and
    ListExecutions report stateMachineVersionArn / stateMachineAliasArn as AWS does (the version
    for a start by version or alias, the alias only for a start by alias, neither for the
    unqualified ARN), as the ExecutionStarted event does, and ListExecutions on a version or an
    alias ARN lists only those."""
    arn, v1, v2 = machine_with_two_versions(sfn, "qualified")
    live = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )["stateMachineAliasArn"]
    by_alias = sfn.start_execution(stateMachineArn=live, name="by-alias")["executionArn"]
    by_version = sfn.start_execution(stateMachineArn=v2, name="by-version")["executionArn"]
    plain = sfn.start_execution(stateMachineArn=arn, name="plain")["executionArn"]
    for ex in (by_alias, by_version, plain):
        finished(sfn, ex)

    d = sfn.describe_execution(executionArn=by_alias)
    assert (d["stateMachineVersionArn"], d["stateMachineAliasArn"]) == (v1, live)
    started = sfn.get_execution_history(executionArn=by_alias)["events"][0]["executionStartedEventDetails"]
    assert (started["stateMachineVersionArn"], started["stateMachineAliasArn"]) == (v1, live)
    d = sfn.describe_execution(executionArn=by_version)
    assert d["stateMachineVersionArn"] == v2 and "stateMachineAliasArn" not in d
    d = sfn.describe_execution(executionArn=plain, includedData="METADATA_ONLY")
    assert "stateMachineVersionArn" not in d and "stateMachineAliasArn" not in d

    def listed(of: str) -> dict[str, dict]:
        return {e["name"]: e for e in sfn.list_executions(stateMachineArn=of)["executions"]}

    everything = listed(arn)
    assert set(everything) == {"by-alias", "by-version", "plain"}
    assert everything["by-alias"]["stateMachineAliasArn"] == live
    assert everything["by-alias"]["stateMachineVersionArn"] == v1
    assert "stateMachineAliasArn" not in everything["by-version"]
    assert "stateMachineVersionArn" not in everything["plain"]
    assert set(listed(live)) == {"by-alias"}
    assert set(listed(v1)) == {"by-alias"}
    assert set(listed(v2)) == {"by-version"}
    # an alias or version that does not exist is StateMachineDoesNotExist, as on AWS
    for missing in (arn + ":nope", arn + ":99"):
        with pytest.raises(ClientError) as err:
            sfn.list_executions(stateMachineArn=missing)
        assert code(err) == "StateMachineDoesNotExist"
