"""The CLI end to end on the real embedded model."""

import json

from click.testing import CliRunner

from edgewise.cli.main import cli


def test_run_json_on_the_embedded_model():
    result = CliRunner().invoke(
        cli, ["run", "--json", "--temperature", "0", "--max-tokens", "8", "Say hello."]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "smollm2-135m" and data["text"].strip()
    assert 1 <= data["usage"]["completion_tokens"] <= 8
    assert data["timings"]["tokens_per_second"] > 0


def test_run_with_schema_file(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"answer": {"enum": ["yes", "no"]}},
                "required": ["answer"],
            }
        )
    )
    result = CliRunner().invoke(
        cli, ["run", "--schema", str(schema), "--max-tokens", "20", "Is water wet? Answer as JSON."]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] in ("yes", "no")


def test_prompt_over_the_context_window_is_one_line():
    result = CliRunner().invoke(cli, ["run", "--n-ctx", "64", "word " * 200])
    assert result.exit_code == 1
    assert result.output.startswith("error: prompt is") and "64" in result.output
