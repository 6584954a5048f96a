import pytest

from edgewise import FakeEngine, InvalidOptionsError, Message
from edgewise.chat_template import render
from edgewise.engines.base import StopMatcher
from edgewise.errors import ContextLengthExceededError, InputError


def _run(stops, pieces):
    m = StopMatcher(stops)
    out = ""
    for p in pieces:
        out += m.feed(p)
        if m.stopped:
            return out, True
    return out + m.flush(), False


def test_stop_matcher_across_pieces():
    assert _run(["END"], ["hello E", "N", "D more"]) == ("hello ", True)
    assert _run(["END"], ["hello E", "NOUGH"]) == ("hello ENOUGH", False)
    assert _run(["\n\n", "###"], ["a\n", "b\n", "\nc"]) == ("a\nb", True)
    assert _run([], ["x", "y"]) == ("xy", False)


def test_template_rendering_and_errors():
    tpl = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    assert render(tpl, [Message(role="user", content="hi")]) == "<user>hi<assistant>"
    bad = "{{ raise_exception('system messages are not supported') }}"
    with pytest.raises(InputError, match="not supported"):
        render(bad, [Message(role="system", content="x")])
    assert render(None, [Message(role="user", content="hi")]) == "User: hi\nAssistant:"


def test_fake_engine_scripts_and_records():
    fake = FakeEngine().enqueue("one two three", {"a": 1})
    c = fake.generate("prompt", {"max_tokens": 2})
    assert c.text == "one two" and c.finish_reason == "length"
    assert fake.generate([{"role": "user", "content": "x"}]).text == '{"a": 1}'
    assert fake.calls[1]["prompt"].startswith("User: x")
    assert fake.generate("p", {"stop": ["b"]}).text == "ok"


def test_fake_engine_errors_like_a_real_one():
    fake = FakeEngine(n_ctx=3)
    with pytest.raises(ContextLengthExceededError):
        fake.generate("one two three four")
    with pytest.raises(InputError):
        fake.generate("   ")
    with pytest.raises(InvalidOptionsError):
        fake.generate("x", {"bogus": 1})
    with pytest.raises(InputError, match="message 0"):
        fake.generate([{"role": "robot", "content": "x"}])


def test_fake_scores_and_embeddings():
    fake = FakeEngine(scorer=lambda text, c: -1.0 if c == "spam" and "WIN" in text else -5.0)
    rows = fake.score_batch("Is it spam? ", ["WIN now", "hello"], ["spam", "ham"])
    assert rows[0][0].logprob > rows[0][1].logprob
    assert rows[1][0].logprob == rows[1][1].logprob
    a, b, c = fake.embed(["the cat sat", "the cat sat down", "quarterly revenue"])
    dot = lambda x, y: sum(i * j for i, j in zip(x, y))  # noqa: E731
    assert dot(a, b) > dot(a, c)


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        ("one text", "not one string"),
        (None, "not NoneType"),
        (b"bytes", "not bytes"),
        (["ok", None], "not NoneType items"),
    ],
)
def test_embed_takes_a_list_of_texts(texts, match):
    with pytest.raises(InputError, match=f"embed takes a list of texts, {match}"):
        FakeEngine().embed(texts)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_ctx": -1}, {"n_ctx": 0}, {"n_ctx": "4096"}, {"threads": -2}, {"n_batch": 0.5}],
)
def test_engine_sizes_are_positive_integers(kwargs):
    from edgewise.engines.llamacpp import LlamaCppEngine

    ((name, value),) = kwargs.items()
    with pytest.raises(InvalidOptionsError, match=f"{name} must be a positive integer, got"):
        LlamaCppEngine("no-such-file.gguf", **kwargs)  # refused before the file is read


def test_repack_overrides_name_the_repackable_matrices():
    """Q4_0 and IQ4_NL block matrices go to llama.cpp's repacked buffer; Q4_1 and odd rows stay."""
    from types import SimpleNamespace

    from edgewise.engines.llamacpp import repack_overrides

    def t(name, ggml_type, shape=(576, 1536)):
        return SimpleNamespace(name=name, ggml_type=ggml_type, shape=shape)

    info = SimpleNamespace(
        tensors=[
            t("blk.0.attn_q.weight", 2),
            t("blk.0.ffn_up.weight", 20),
            t("blk.0.ffn_down.weight", 3),  # Q4_1: no repacked kernel
            t("blk.1.attn_k.weight", 20, (576, 190)),  # rows not a multiple of 8
            t("token_embd.weight", 2),  # not in a block
        ]
    )
    overrides = repack_overrides(info)
    if overrides is None:
        pytest.skip("no AVX2 or no CPU_REPACK buffer in this llama.cpp build")
    pattern = overrides[0].pattern.decode()
    assert "attn_q" in pattern and "ffn_up" in pattern
    assert "ffn_down" not in pattern and "attn_k" not in pattern and "token_embd" not in pattern
    assert overrides[1].pattern is None  # the list ends with an empty entry
