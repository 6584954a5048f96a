from edgewise import FakeEngine
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
