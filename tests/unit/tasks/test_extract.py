import pytest

from edgewise import FakeEngine
from edgewise.errors import InputError, SchemaValidationError
from edgewise.tasks.extract import LOOP_PENALTY, Extractor


def test_extract_reasks_a_run_out_output_with_a_repeat_penalty():
    engine = FakeEngine()
    looping = '{"year": "1975, ' + "1975, " * 20 + '1975"}'
    engine.enqueue(looping, '{"year": "1975"}')
    schema = {"type": "object", "properties": {"year": {"type": "string"}}, "required": ["year"]}
    value = Extractor(engine, schema, max_tokens=10).extract("Songs from 1975")
    assert value == {"year": "1975"}
    first, second = (c["options"] for c in engine.calls if c["op"] == "generate")
    assert first.repeat_penalty == 1.0 and second.repeat_penalty == LOOP_PENALTY
    assert "did not finish within max_tokens=10" in engine.calls[-1]["prompt"]


def test_the_typed_error_carries_the_validation_errors_not_its_own_message():
    engine = FakeEngine(default_response='{"n": 7}')
    schema = {"type": "object", "properties": {"n": {"type": "number", "maximum": 4}}}
    with pytest.raises(SchemaValidationError) as info:
        Extractor(engine, schema, max_retries=1).extract("The number is 7.")
    err = info.value
    assert err.errors == ["n: 7 is greater than the maximum of 4"]
    assert (
        str(err)
        == "output did not validate after 2 attempt(s): n: 7 is greater than the maximum of 4"
    )
    assert err.attempts == 2 and err.raw_text == '{"n": 7}'


@pytest.mark.parametrize("texts", [None, 5, "one text", b"bytes"])
def test_extract_many_rejects_what_is_not_a_list_of_texts(texts):
    with pytest.raises(InputError, match="extract_many takes a list of texts"):
        Extractor(FakeEngine(), {"type": "object"}).extract_many(texts)


def test_extract_many_takes_a_generator():
    engine = FakeEngine(['{"a": 1}', '{"a": 2}'])
    results = Extractor(engine, {"type": "object"}).extract_many(t for t in ["x", "y"])
    assert [r.value for r in results] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_retries": None}, "max_retries must be a whole number"),
        ({"max_retries": "2"}, "max_retries must be a whole number"),
        ({"max_retries": -1}, "max_retries must be a whole number, 0 or more"),
        ({"max_input_tokens": 0}, "max_input_tokens must be a whole number, at least 1"),
        ({"max_input_tokens": "64"}, "max_input_tokens must be a whole number"),
        ({"examples": [("Bob, 71",)]}, "a \\(text, value\\) pair"),
        ({"examples": {"Bob, 71": {"a": 1}}}, "a \\(text, value\\) pair"),
        ({"examples": [(None, {"a": 1})]}, "a \\(text, value\\) pair"),
    ],
)
def test_invalid_setup_is_a_clear_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        Extractor(FakeEngine(), {"type": "object"}, **kwargs)


def test_examples_are_pairs_of_text_and_value_or_json_text():
    ex = Extractor(FakeEngine(), {"type": "object"}, examples=[("a", {"n": 1}), ["b", '{"n": 2}']])
    assert ex.examples == [("a", '{"n": 1}'), ("b", '{"n": 2}')]
