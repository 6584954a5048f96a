import pytest

from edgewise import GenerationOptions, InvalidOptionsError


def test_defaults_and_keywords():
    opts = GenerationOptions.parse({"max_tokens": 5}, temperature=0.0, stop="END")
    assert opts.max_tokens == 5 and opts.temperature == 0.0 and opts.stop == ["END"]


def test_unknown_option_is_a_clear_error():
    with pytest.raises(InvalidOptionsError, match="frequency_penalty: unknown option"):
        GenerationOptions.parse({"frequency_penalty": 1.0})


@pytest.mark.parametrize(
    "bad",
    [
        {"max_tokens": 0},
        {"temperature": -1},
        {"top_p": 0},
        {"top_p": 1.5},
        {"seed": -3},
        {"stop": [""]},
        {"max_tokens": "many"},
    ],
)
def test_out_of_range_values(bad):
    with pytest.raises(InvalidOptionsError):
        GenerationOptions.parse(bad)


def test_options_model_merges_with_overrides():
    base = GenerationOptions(max_tokens=10, seed=1)
    merged = GenerationOptions.parse(base, temperature=0.0)
    assert (merged.max_tokens, merged.seed, merged.temperature) == (10, 1, 0.0)
