"""Which fields each state type accepts, per query language."""

from __future__ import annotations

JSONPATH = "JSONPath"
JSONATA = "JSONata"

COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}
_JP_IO = {"InputPath", "OutputPath"}
_ERR = {"Retry", "Catch"}
_TIMEOUTS = {"TimeoutSeconds", "HeartbeatSeconds"}

#: fields only meaningful in JSONPath states (rejected in JSONata states)
JSONPATH_ONLY = {
    "InputPath",
    "OutputPath",
    "ResultPath",
    "Parameters",
    "ResultSelector",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "ItemsPath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
    "Result",
    "Iterator",
}
#: fields only meaningful in JSONata states (rejected in JSONPath states)
JSONATA_ONLY = {"Arguments", "Output", "Items"}

_MAP_COMMON = {
    "ItemProcessor",
    "ItemSelector",
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "MaxConcurrency",
    "ToleratedFailurePercentage",
    "ToleratedFailureCount",
    "Label",
}

FIELDS = {
    "Pass": {
        JSONPATH: _FLOW | _JP_IO | {"ResultPath", "Parameters", "Result", "Assign"},
        JSONATA: _FLOW | {"Output", "Assign"},
    },
    "Task": {
        JSONPATH: _FLOW
        | _JP_IO
        | _ERR
        | _TIMEOUTS
        | {
            "Resource",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "TimeoutSecondsPath",
            "HeartbeatSecondsPath",
            "Credentials",
            "Assign",
        },
        JSONATA: _FLOW | _ERR | _TIMEOUTS | {"Resource", "Arguments", "Output", "Assign", "Credentials"},
    },
    "Choice": {
        JSONPATH: _JP_IO | {"Choices", "Default", "Assign"},
        JSONATA: {"Choices", "Default", "Output", "Assign"},
    },
    "Wait": {
        JSONPATH: _FLOW | _JP_IO | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"},
        JSONATA: _FLOW | {"Seconds", "Timestamp", "Output", "Assign"},
    },
    "Succeed": {JSONPATH: set(_JP_IO), JSONATA: {"Output"}},
    "Fail": {JSONPATH: {"Error", "ErrorPath", "Cause", "CausePath"}, JSONATA: {"Error", "Cause"}},
    "Parallel": {
        JSONPATH: _FLOW
        | _JP_IO
        | _ERR
        | {"Branches", "ResultPath", "Parameters", "ResultSelector", "Assign"},
        JSONATA: _FLOW | _ERR | {"Branches", "Arguments", "Output", "Assign"},
    },
    "Map": {
        JSONPATH: _FLOW
        | _JP_IO
        | _ERR
        | _MAP_COMMON
        | {
            "Iterator",
            "ItemsPath",
            "Parameters",
            "ResultPath",
            "ResultSelector",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCountPath",
            "Assign",
        },
        JSONATA: _FLOW | _ERR | _MAP_COMMON | {"Items", "Output", "Assign"},
    },
}

REQUIRED = {
    "Task": ("Resource",),
    "Choice": ("Choices",),
    "Parallel": ("Branches",),
}

#: states that must have exactly one of Next / End
FLOW_STATES = {"Pass", "Task", "Wait", "Parallel", "Map"}

TOP_LEVEL = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
SUB_MACHINE = {"StartAt", "States", "Comment"}
ITEM_PROCESSOR = SUB_MACHINE | {"ProcessorConfig"}

RETRIER = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
}
CATCHER = {
    JSONPATH: {"ErrorEquals", "Next", "ResultPath", "Assign", "Comment"},
    JSONATA: {"ErrorEquals", "Next", "Output", "Assign", "Comment"},
}
ITEM_BATCHER = {
    JSONPATH: {
        "MaxItemsPerBatch",
        "MaxItemsPerBatchPath",
        "MaxInputBytesPerBatch",
        "MaxInputBytesPerBatchPath",
        "BatchInput",
    },
    JSONATA: {"MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput"},
}

MAX_NAME = 80
