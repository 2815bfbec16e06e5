"""Distributed Map in the engine (driven by the in-process runner over in-memory blobs): the
ItemReader formats, ReaderConfig, ItemBatcher, WriterConfig and tolerance, per the AWS guide."""

from __future__ import annotations

import json

import pytest

from pilothouse.blobs.memory import MemoryBlobs
from pilothouse.engine import StartChild, advance, complete_child, pending_children, run, start, stop
from pilothouse.engine.runner import TaskFailure

PROCESSOR = {
    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
    "StartAt": "Echo",
    "States": {"Echo": {"Type": "Pass", "End": True}},
}


def machine(**fields) -> dict:
    return {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemProcessor": PROCESSOR, "End": True, **fields}},
    }


def reader(resource="getObject", config=None, **params) -> dict:
    r = {"Resource": f"arn:aws:states:::s3:{resource}", "Parameters": {"Bucket": "src", **params}}
    if config is not None:
        r["ReaderConfig"] = config
    return r


def go(definition, blobs, input=None, invoke=None):
    return run(definition, input or {}, invoke=invoke or (lambda r, p, c: p), blobs=blobs)


@pytest.fixture
def blobs():
    return MemoryBlobs()


def test_json_array_object(blobs):
    blobs.put("src/a.json", json.dumps([1, {"x": 2}, "three"]).encode())
    out = go(machine(ItemReader=reader(Key="a.json")), blobs)
    assert out.status == "SUCCEEDED" and out.output == [1, {"x": 2}, "three"]
    assert len(out.children) == 3
    assert all(c.history[0]["type"] == "ExecutionStarted" for c in out.children.values())


def test_json_lines_with_max_items(blobs):
    blobs.put("src/a.jsonl", b'{"a":1}\n\n{"a":2}\n{"a":3}\n')
    out = go(machine(ItemReader=reader(Key="a.jsonl", config={"InputType": "JSONL", "MaxItems": 2})), blobs)
    assert out.output == [{"a": 1}, {"a": 2}]


def test_csv_first_row_and_given_headers(blobs):
    blobs.put("src/a.csv", b'name,size\nalpha,1\n"be,ta",2\n')
    out = go(
        machine(
            ItemReader=reader(Key="a.csv", config={"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})
        ),
        blobs,
    )
    assert out.output == [{"name": "alpha", "size": "1"}, {"name": "be,ta", "size": "2"}]
    blobs.put("src/b.csv", b"alpha|1\nbeta|2\n")
    given = {
        "InputType": "CSV",
        "CSVHeaderLocation": "GIVEN",
        "CSVHeaders": ["n", "s"],
        "CSVDelimiter": "PIPE",
    }
    out = go(machine(ItemReader=reader(Key="b.csv", config=given)), blobs)
    assert out.output == [{"n": "alpha", "s": "1"}, {"n": "beta", "s": "2"}]


def test_max_items_path_and_dynamic_parameters(blobs):
    blobs.put("src/k/a.json", json.dumps(list(range(10))).encode())
    r = {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
        "ReaderConfig": {"MaxItemsPath": "$.limit"},
    }
    out = go(machine(ItemReader=r), blobs, {"bucket": "src", "key": "k/a.json", "limit": 4})
    assert out.output == [0, 1, 2, 3]


def test_list_objects_pages_through_a_prefix(blobs):
    for i in range(1203):
        blobs.put(f"src/logs/{i:05d}.txt", b"x" * (i % 7))
    blobs.put("src/other/skip.txt", b"no")
    out = go(
        machine(
            ItemReader=reader("listObjectsV2", Prefix="logs/"), ItemSelector={"k.$": "$$.Map.Item.Value.Key"}
        ),
        blobs,
    )
    assert out.status == "SUCCEEDED", out.cause
    assert len(out.output) == 1203 and out.output[0] == {"k": "logs/00000.txt"}
    out = go(machine(ItemReader=reader("listObjectsV2", Prefix="logs/0000")), blobs)
    first = out.output[1]
    assert set(first) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert first["Key"] == "logs/00001.txt" and first["Size"] == 1 and first["StorageClass"] == "STANDARD"
    assert isinstance(first["LastModified"], int) and first["Etag"].startswith('"')


@pytest.mark.parametrize(
    ("key", "body", "config"),
    [
        ("missing.json", None, None),
        ("bad.json", b"{not json", None),
        ("obj.json", b'{"a": 1}', None),
        ("bad.jsonl", b'{"a":1}\nnope\n', {"InputType": "JSONL"}),
        ("bad.csv", b"a\n1,2\n", {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}),
        ("x.csv", b"a\n", {"InputType": "PARQUET"}),
        ("x.csv", b"a\n", {"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}),
        ("bin.json", b"\xff\xfe", None),
    ],
)
def test_unreadable_items_fail_with_item_reader_failed(blobs, key, body, config):
    if body is not None:
        blobs.put(f"src/{key}", body)
    out = go(machine(ItemReader=reader(Key=key, config=config)), blobs)
    assert (out.status, out.error) == ("FAILED", "States.ItemReaderFailed"), out.cause


def test_item_reader_failed_is_catchable(blobs):
    d = machine(ItemReader=reader(Key="nope.json"))
    d["States"]["M"].pop("End")
    d["States"]["M"]["Next"] = "Done"
    d["States"]["M"]["Catch"] = [{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Done"}]
    d["States"]["Done"] = {"Type": "Succeed"}
    out = go(d, blobs)
    assert out.status == "SUCCEEDED" and out.output["Error"] == "States.ItemReaderFailed"


def test_item_batcher_groups_items_with_batch_input(blobs):
    blobs.put("src/a.json", json.dumps(list(range(7))).encode())
    batcher = {"MaxItemsPerBatch": 3, "BatchInput": {"run.$": "$.run"}}
    out = go(machine(ItemReader=reader(Key="a.json"), ItemBatcher=batcher), blobs, {"run": "r1"})
    assert out.output == [
        {"BatchInput": {"run": "r1"}, "Items": [0, 1, 2]},
        {"BatchInput": {"run": "r1"}, "Items": [3, 4, 5]},
        {"BatchInput": {"run": "r1"}, "Items": [6]},
    ]
    assert len(out.children) == 3


def test_items_path_works_in_distributed_mode_without_a_reader(blobs):
    out = go(machine(ItemsPath="$.xs", MaxConcurrency=1), blobs, {"xs": [1, 2, 3]})
    assert out.output == [1, 2, 3] and len(out.children) == 3


def test_jsonata_arguments_and_items(blobs):
    blobs.put("src/j.json", json.dumps([{"v": 1}, {"v": 2}]).encode())
    d = machine(
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "Arguments": {"Bucket": "{% $states.input.b %}", "Key": "j.json"},
            "ReaderConfig": {"MaxItems": "{% 1 %}"},
        },
        ItemSelector="{% {'w': $states.context.Map.Item.Value.v * 10} %}",
    )
    d["QueryLanguage"] = "JSONata"
    out = go(d, blobs, {"b": "src"})
    assert out.status == "SUCCEEDED", out.cause
    assert out.output == [{"w": 10}]


@pytest.mark.parametrize(
    ("transformation", "output_type", "expected"),
    [
        ("COMPACT", "JSON", [[1, 2], [3]]),
        ("FLATTEN", "JSON", [1, 2, 3]),
    ],
)
def test_writer_config_without_export_shapes_the_output(blobs, transformation, output_type, expected):
    d = machine(
        ItemsPath="$.xs",
        ResultWriter={"WriterConfig": {"Transformation": transformation, "OutputType": output_type}},
    )
    out = go(d, blobs, {"xs": [[1, 2], [3]]})
    assert out.output == expected


def test_export_as_json_lines(blobs):
    w = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "results", "Prefix": "p/q"},
        "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"},
    }
    out = go(machine(ItemsPath="$.xs", ResultWriter=w), blobs, {"xs": [{"a": 1}, {"a": 2}]})
    key = out.output["ResultWriterDetails"]["Key"]
    assert key.startswith("p/q/") and key.endswith("/manifest.json")
    manifest = json.loads(blobs.get("results/" + key))
    [f] = manifest["ResultFiles"]["SUCCEEDED"]
    body = blobs.get("results/" + f["Key"])
    assert body == b'{"a":1}\n{"a":2}\n' and f["Size"] == len(body)


def test_a_child_failure_without_tolerance_fails_the_map_run(blobs):
    def invoke(resource, payload, ctx):
        if payload == 2:
            raise TaskFailure("Boom", "item 2")
        return payload

    d = machine(ItemsPath="$.xs")
    d["States"]["M"]["ItemProcessor"] = {
        **PROCESSOR,
        "States": {"Echo": {"Type": "Task", "Resource": "f", "End": True}},
    }
    out = go(d, blobs, {"xs": [1, 2, 3]}, invoke)
    assert (out.status, out.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    types = [e["type"] for e in out.history]
    assert types[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_the_durable_api_asks_for_children_and_honours_max_concurrency():
    """Given MaxConcurrency 2 over 5 items, the engine asks for 2 children, then one more each
    time one ends; a repeated end changes nothing; pending_children names those in flight."""
    d = machine(ItemsPath="$", MaxConcurrency=2)
    ex = start(d, [10, 20, 30, 40, 50], now=0)
    ex, effects = advance(ex, 0)
    starts = [e for e in effects if isinstance(e, StartChild)]
    assert [s.index for s in starts] == [0, 1] and starts[0].input == 10
    assert [p.name for p in pending_children(ex)] == [s.name for s in starts]
    assert complete_child(ex, starts[0].map_run, 0, "SUCCEEDED", 11)
    assert not complete_child(ex, starts[0].map_run, 0, "SUCCEEDED", 11)
    ex, effects = advance(ex, 1)
    assert [e.index for e in effects if isinstance(e, StartChild)] == [2]
    stop(ex, now=2)
    ex, effects = advance(ex, 2)
    assert {e.name for e in effects if type(e).__name__ == "StopChild"} == {
        starts[1].name,
        f"{starts[0].map_run}_2",
    }
    assert ex.status == "ABORTED"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"ItemReader": {"Parameters": {}}}, "$.States.M.ItemReader.Resource"),
        ({"ResultWriter": {}}, "$.States.M.ResultWriter"),
        ({"ResultWriter": "s3"}, "$.States.M.ResultWriter"),
    ],
)
def test_validation_names_a_malformed_reader_or_writer(fields, path):
    from pilothouse.engine import validate

    assert path in [e.path for e in validate(machine(**fields))]


def test_validation_accepts_the_distributed_map_fields():
    from pilothouse.engine import validate

    d = machine(
        ItemReader=reader(
            Key="a.csv", config={"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItems": 5}
        ),
        ItemBatcher={"MaxItemsPerBatch": 2, "MaxInputBytesPerBatch": 1024, "BatchInput": {"a": 1}},
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "b", "Prefix": "p"},
        },
        MaxConcurrency=10,
        ToleratedFailurePercentage=5,
        ToleratedFailureCount=2,
        Label="Fan",
    )
    assert validate(d) == []


def test_no_items_succeed_at_once_with_an_empty_result(blobs):
    blobs.put("src/empty.json", b"[]")
    out = go(machine(ItemReader=reader(Key="empty.json")), blobs)
    assert (out.status, out.output, out.children) == ("SUCCEEDED", [], {})
