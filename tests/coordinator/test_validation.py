"""Input validation: every rejection names the offending field."""

import pytest

from coordinator.problems import InvalidInput, MalformedBody
from coordinator.validation import (
    csv_number,
    parse_estimate_item,
    parse_features,
    parse_items_csv,
    parse_items_json,
    parse_json,
    parse_quantiles,
)


def test_quantiles_always_include_the_defaults_sorted():
    assert parse_quantiles(None) == [0.1, 0.5, 0.9]
    assert parse_quantiles([0.95, 0.25]) == [0.1, 0.25, 0.5, 0.9, 0.95]
    for bad in ([0], [1], [True], ["0.5"], [], "0.5"):
        with pytest.raises(InvalidInput):
            parse_quantiles(bad)


def test_features_accept_numbers_strings_null_and_reject_the_rest():
    assert parse_features({"a": 1, "b": "x", "c": None, "d": True}, "f") == {
        "a": 1.0,
        "b": "x",
        "c": None,
        "d": 1.0,
    }
    with pytest.raises(InvalidInput) as e:
        parse_features({"a": {"nested": 1}}, "features")
    assert e.value.field == "features.a"
    with pytest.raises(InvalidInput):
        parse_features({"a": float("nan")}, "features")
    with pytest.raises(InvalidInput, match="finite") as e:
        parse_features({"ok": 2.5, "b": float("-inf")}, "items[3].features")
    assert e.value.field == "items[3].features.b"
    with pytest.raises(InvalidInput, match="200 characters"):
        parse_features({"a": "x" * 201}, "features")
    with pytest.raises(InvalidInput, match="1-100 characters"):
        parse_features({"": 1}, "features")
    assert parse_features({"a": False, "b": 2**40, "c": "x" * 200}, "f") == {
        "a": 0.0, "b": float(2**40), "c": "x" * 200}


def test_csv_import_maps_columns_and_types():
    body = b"\xef\xbb\xbfid,Title,description,Effort,size,team\n1,Fix bug,desc,3,2,web\n2,Add,,,,\n"
    items = parse_items_csv(body, 100)
    assert items[0] == {
        "id": "1",
        "title": "Fix bug",
        "description": "desc",
        "features": {"size": 2.0, "team": "web"},
        "actual": 3.0,
    }
    assert items[1] == {"id": "2", "title": "Add", "description": "", "features": {}}


def test_json_import_generates_ids_and_rejects_duplicates():
    items = parse_items_json({"items": [{"title": "a"}, {"title": "b"}]}, 10)
    assert len({i["id"] for i in items}) == 2
    with pytest.raises(InvalidInput) as e:
        parse_items_json({"items": [{"id": "x", "title": "a"}, {"id": "x", "title": "b"}]}, 10)
    assert e.value.field == "items[1].id"
    with pytest.raises(InvalidInput):
        parse_items_json({"items": [{"title": "a"}] * 11}, 10)


def test_estimate_item_and_json_errors():
    assert parse_estimate_item({"title": "t"}, "") == {
        "title": "t",
        "description": "",
        "features": {},
    }
    with pytest.raises(InvalidInput) as e:
        parse_estimate_item({"title": "t", "bogus": 1}, "items[3]")
    assert e.value.field == "items[3].bogus"
    with pytest.raises(MalformedBody) as m:
        parse_json(b'{"a": ')
    assert "line 1" in m.value.detail


@pytest.mark.parametrize("item, field", [
    ({"title": "a\x00b"}, "title"),
    ({"title": "a", "description": "\x00"}, "description"),
    ({"title": "a", "features": {"team\x00": "x"}}, "features.team\x00"),
    ({"title": "a", "features": {"team": "x\x00y"}}, "features.team"),
    ({"title": "a", "item_id": "i\x00"}, "item_id"),
])
def test_nul_characters_are_refused_naming_the_field(item: dict, field: str) -> None:
    with pytest.raises(InvalidInput, match="NUL") as e:
        parse_estimate_item(item, "")
    assert e.value.field == field


def test_nul_in_imports_is_refused() -> None:
    with pytest.raises(InvalidInput, match="NUL") as e:
        parse_items_json({"items": [{"id": "a\x00", "title": "t"}]}, 10)
    assert e.value.field == "items[0].id"
    with pytest.raises(InvalidInput, match="NUL") as e:
        parse_items_csv(b"title,team\nok,x\nbad\x00,y\n", 10)
    assert e.value.field == "line 3.title"


@pytest.mark.parametrize("actual", [1e308, 5e-324, 1e-7, 2e9])
def test_efforts_outside_the_supported_range_are_refused(actual: float) -> None:
    with pytest.raises(InvalidInput, match="between") as e:
        parse_items_json({"items": [{"title": "t", "actual": actual}]}, 10)
    assert e.value.field == "items[0].actual"
    assert parse_items_json({"items": [{"title": "t", "actual": 1e-6}, {"title": "u",
                                        "actual": 1e9}]}, 10)[1]["actual"] == 1e9


def test_quantiles_are_taken_to_the_precision_of_their_keys() -> None:
    assert parse_quantiles([0.3333331, 0.3333334, 0.1000001]) == [0.1, 0.333333, 0.5, 0.9]
    with pytest.raises(InvalidInput) as e:
        parse_quantiles([0.5, 1 - 1e-16])
    assert e.value.field == "quantiles[1]"


@pytest.mark.parametrize("body, error, field, words", [
    (b'title,x\n"abc,1\n', MalformedBody, None, "line"),
    (b"title,effort,effort\na,1,2\n", InvalidInput, "header", "twice"),
    (b"title,actual,effort\na,1,2\n", InvalidInput, "header", "keep one"),
])
def test_csv_with_open_quotes_or_repeated_columns_is_refused(body: bytes, error: type,
                                                            field: str | None, words: str):
    with pytest.raises(error, match=words) as e:
        parse_items_csv(body, 10)
    assert getattr(e.value, "field", None) == field


def test_csv_lines_may_end_in_a_lone_carriage_return():
    items = parse_items_csv(b"title,effort\ra,1\rb,2\r", 10)
    assert [(i["title"], i["actual"]) for i in items] == [("a", 1.0), ("b", 2.0)]


def test_csv_numbers_are_decimal_numbers_only():
    """float() also takes 1_000, nan and inf: as features they stay text, as efforts
    they are refused."""
    body = b"title,effort,size,build,ratio\na,1_000,2.5e1,nan,-.5\n"
    with pytest.raises(InvalidInput, match="effort must be a number") as e:
        parse_items_csv(body, 10)
    assert e.value.field == "line 2.effort"
    [item] = parse_items_csv(b"title,effort,size,build,batch,ratio\na,+3,2.5e1,nan,1_000,-.5\n",
                             10)
    assert item["actual"] == 3.0
    assert item["features"] == {"size": 25.0, "build": "nan", "batch": "1_000", "ratio": -0.5}
    for cell in ("inf", "Infinity", "1_0", "0x10", " 1", "1e", "."):
        assert csv_number(cell) is None, cell
    for cell, value in (("1", 1.0), ("-2.", -2.0), (".5", 0.5), ("1E-3", 0.001)):
        assert csv_number(cell) == value


def test_batch_items_cannot_carry_batch_options():
    for name, value in (("quantiles", [0.2]), ("min_seq", 3)):
        with pytest.raises(InvalidInput, match="whole batch") as e:
            parse_estimate_item({"title": "a", name: value}, "items[4]")
        assert e.value.field == f"items[4].{name}"
    assert parse_estimate_item({"title": "a", "quantiles": [0.2]}, "")["title"] == "a"


def test_imports_refuse_unknown_top_level_fields():
    with pytest.raises(InvalidInput) as e:
        parse_items_json({"items": [{"title": "a"}], "replace": True}, 10)
    assert e.value.field == "replace"


def test_ids_are_measured_once_stripped():
    assert parse_estimate_item({"title": "a", "item_id": " " + "z" * 200 + " "},
                               "")["item_id"] == "z" * 200
    with pytest.raises(InvalidInput):
        parse_estimate_item({"title": "a", "item_id": "z" * 201}, "")
