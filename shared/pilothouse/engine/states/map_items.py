"""Item batching for the Map state (``ItemBatcher``)."""

from __future__ import annotations

from typing import Any

from .. import paths
from ..errors import QUERY_EVALUATION_ERROR, StatesError, runtime


def _limit(flow: Any, batcher: dict, raw: Any, eff: Any, key: str) -> Any:
    if key in batcher:
        value = batcher[key]
        if flow.jsonata:
            value = flow.expr(value, raw)
    elif key + "Path" in batcher:
        value = paths.resolve(batcher[key + "Path"], eff, flow.env, key + "Path")
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"ItemBatcher {key} must be a positive integer, got {value!r}"
        raise StatesError(QUERY_EVALUATION_ERROR, msg) if flow.jsonata else runtime(msg)
    return value


def batch_items(flow: Any, batcher: dict, items: list, raw: Any, eff: Any) -> list:
    """Group ``items`` into ``{"BatchInput": ..., "Items": [...]}`` objects.

    Batches hold at most ``MaxItemsPerBatch`` items and at most
    ``MaxInputBytesPerBatch`` bytes of serialized JSON (a single item
    larger than the byte limit still forms its own batch).
    """
    max_items = _limit(flow, batcher, raw, eff, "MaxItemsPerBatch")
    max_bytes = _limit(flow, batcher, raw, eff, "MaxInputBytesPerBatch")
    batch_input = None
    if "BatchInput" in batcher:
        if flow.jsonata:
            batch_input = flow.expr(batcher["BatchInput"], raw)
        else:
            batch_input = paths.apply_template(batcher["BatchInput"], eff, flow.env, "BatchInput")

    def wrap(chunk: list) -> dict:
        out = {"Items": chunk}
        if batch_input is not None:
            out = {"BatchInput": batch_input, "Items": chunk}
        return out

    batches: list = []
    current: list = []
    for item in items:
        candidate = current + [item]
        too_many = max_items is not None and len(candidate) > max_items
        too_big = max_bytes is not None and current and paths.payload_size(wrap(candidate)) > max_bytes
        if too_many or too_big:
            batches.append(wrap(current))
            current = [item]
        else:
            current = candidate
    if current:
        batches.append(wrap(current))
    return batches


def item_inputs(
    it: Any, run: dict, chain: list, st: dict, flow: Any, items: list, raw: Any, eff: Any
) -> list:
    """The input of each iteration (inline Map) or child (Distributed Map): each item through
    ``ItemSelector`` (``Parameters`` in older definitions) with ``$$.Map.Item``, then ``ItemBatcher``."""
    key = "ItemSelector" if "ItemSelector" in st else ("Parameters" if "Parameters" in st else None)
    inputs = []
    for index, value in enumerate(items):
        if key is None:
            inputs.append(value)
            continue
        iflow = it.flow(run, chain, st, item={"Index": index, "Value": value})
        if iflow.jsonata:
            inputs.append(iflow.expr(st[key], raw))
        else:
            inputs.append(paths.apply_template(st[key], eff, iflow.env, key))
    if "ItemBatcher" in st:
        inputs = batch_items(flow, st["ItemBatcher"], inputs, raw, eff)
    return inputs


def number_field(flow: Any, st: dict, raw: Any, eff: Any, key: str, *, integer: bool = True) -> float | None:
    """A Map field given as ``key`` or ``key + "Path"`` (MaxConcurrency, ToleratedFailureCount ...):
    a non-negative number (integer unless told), or None when the state does not set it."""
    if key in st:
        value = flow.value(key, raw)
    elif key + "Path" in st:
        value = paths.resolve(st[key + "Path"], eff, flow.env, key + "Path")
    else:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if ok and integer:
        ok = int(value) == value
    if not ok:
        msg = f"{key} must be a non-negative {'integer' if integer else 'number'}, got {value!r}"
        raise StatesError(QUERY_EVALUATION_ERROR, msg) if flow.jsonata else runtime(msg)
    return value


def inline_items(flow: Any, st: dict, raw: Any, eff: Any) -> list:
    """The items a Map takes from its input: ``Items`` (JSONata) or ``ItemsPath`` (JSONPath), an array."""
    if flow.jsonata:
        items = flow.value("Items", raw) if "Items" in st else raw
        if not isinstance(items, list):
            raise StatesError(
                QUERY_EVALUATION_ERROR, f"The Items field must evaluate to a JSON array, got {items!r}"
            )
        return items
    items = paths.resolve(st.get("ItemsPath", "$"), eff, flow.env, "ItemsPath")
    if not isinstance(items, list):
        raise runtime(f"The ItemsPath '{st.get('ItemsPath', '$')}' must select a JSON array")
    return items
