"""JSONPath selection as Step Functions supports it."""

import pytest

from pilothouse.engine import jsonpath as jp

STORE = {
    "store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
            {
                "category": "fiction",
                "author": "Herman Melville",
                "title": "Moby Dick",
                "isbn": "0-553",
                "price": 8.99,
            },
            {
                "category": "fiction",
                "author": "J. R. R. Tolkien",
                "title": "LOTR",
                "isbn": "0-395",
                "price": 22.99,
            },
        ],
        "bicycle": {"color": "red", "price": 19.95},
        "odd key": 1,
    }
}


@pytest.mark.parametrize(
    "path,expected",
    [
        ("$.store.bicycle.color", "red"),
        ("$['store']['bicycle']['price']", 19.95),
        ("$.store.book[0].author", "Nigel Rees"),
        ("$.store.book[-1].title", "LOTR"),
        ("$.store['odd key']", 1),
        ("$", STORE),
    ],
)
def test_definite_paths_return_the_value(path, expected):
    """Given a definite path, When evaluated, Then the single value is returned."""
    assert jp.evaluate(path, STORE) == expected


@pytest.mark.parametrize(
    "path,expected",
    [
        ("$.store.book[*].author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]),
        ("$..author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]),
        ("$.store.book[0:2].title", ["Sayings", "Sword"]),
        ("$.store.book[::2].title", ["Sayings", "Moby Dick"]),
        ("$.store.book[-2:].title", ["Moby Dick", "LOTR"]),
        ("$.store.book[0,3].title", ["Sayings", "LOTR"]),
        ("$.store.book[?(@.isbn)].title", ["Moby Dick", "LOTR"]),
        ("$.store.book[?(@.price < 10)].title", ["Sayings", "Moby Dick"]),
        ("$.store.book[?(@.category == 'fiction' && @.price > 20)].title", ["LOTR"]),
        ("$.store.book[?(@.price < 9 || @.price > 20)].title", ["Sayings", "Moby Dick", "LOTR"]),
        ("$.store.book[?(@.author != 'Nigel Rees')].price", [12.99, 8.99, 22.99]),
        ("$.store.bicycle.*", ["red", 19.95]),
        ("$.nothing[*]", []),
    ],
)
def test_indefinite_paths_return_lists(path, expected):
    """Given wildcards, slices, unions, filters or descent, Then a list of matches is returned."""
    assert jp.evaluate(path, STORE) == expected


def test_recursive_descent_collects_every_price():
    """Given $..price, Then every price at any depth is found."""
    assert sorted(jp.evaluate("$..price", STORE)) == sorted([8.95, 12.99, 8.99, 22.99, 19.95])


def test_missing_definite_path_raises():
    """Given a definite path to a missing field, Then PathNotFound is raised."""
    with pytest.raises(jp.PathNotFound):
        jp.evaluate("$.store.car", STORE)


def test_context_and_variable_roots():
    """Given $$ and $var roots, Then the context object and variables are used."""
    assert jp.evaluate("$$.Execution.Name", {}, context={"Execution": {"Name": "n1"}}) == "n1"
    assert jp.evaluate("$order.items[1]", {}, variables={"order": {"items": [1, 2]}}) == 2
    assert jp.evaluate("$order", {}, variables={"order": 5}) == 5
    with pytest.raises(jp.PathNotFound):
        jp.evaluate("$missing", {}, variables={})


@pytest.mark.parametrize("bad", ["store", "$.a[", "$.a[1:2:0]", "$.a.", "$.a[?(@.x ~ 1)]x"])
def test_syntax_errors(bad):
    """Given malformed text, Then compile_path rejects it."""
    assert not jp.is_valid_path(bad)


def test_reference_path_detection():
    """Reference paths are definite and rooted at $."""
    assert jp.is_reference_path("$.a.b[0]")
    assert not jp.is_reference_path("$.a[*]")
    assert not jp.is_reference_path("$$.Execution")
