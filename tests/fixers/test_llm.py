"""The llm fixer with a scripted LangChain chat model, and with the real OpenAI client over HTTP."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from stomper.budget import listed_price
from stomper.config import Price, StomperSettings
from stomper.diagnostics import Diagnostic
from stomper.errors import FixerError
from stomper.fixers import FixOutcome, FixRequest, Usage
from stomper.fixers.llm import LlmFixer
from tests.openai_server import OpenAIServer, Refusal, rate_limited

PATH = "pkg/calc.py"
BROKEN = "import os\n\n\ndef total(xs: list[int]) -> str:\n    return sum(xs)\n"
FIXED = "def total(xs: list[int]) -> int:\n    return sum(xs)\n"
DIAGNOSTICS = (
    Diagnostic(PATH, 1, 8, "ruff", "F401", "`os` imported but unused"),
    Diagnostic(PATH, 5, 12, "mypy", "return-value", 'Incompatible return value type (got "int", expected "str")'),
)
MODEL = "openai:gpt-4o-mini"


class ScriptedModel(GenericFakeChatModel):
    """LangChain's fake chat model, replaying scripted replies; it also keeps what it was sent,
    and can hold every call at a gate to have several in flight at once."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    gate: asyncio.Event | None = None
    running: int = 0
    peak: int = 0

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(messages)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            return self._generate(messages, stop=stop, **kwargs)
        finally:
            self.running -= 1


def scripted(*replies: str | AIMessage, gate: asyncio.Event | None = None) -> ScriptedModel:
    return ScriptedModel(messages=iter(replies), prompts=[], gate=gate)


def reply(text: str, input_tokens: int = 1000, output_tokens: int = 200) -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    )


def settings(**llm: Any) -> StomperSettings:
    return StomperSettings.model_validate({"model": MODEL, "llm": llm})


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "worktree"
    (root / "pkg").mkdir(parents=True)
    (root / PATH).write_text(BROKEN)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 88\n\n[tool.mypy]\nstrict = true\n\n[tool.other]\nx = 1\n'
    )
    return root


def request(worktree: Path, attempt: int = 1, feedback: str | None = None, path: str = PATH) -> FixRequest:
    return FixRequest(worktree, path, DIAGNOSTICS, attempt, 3, feedback)


def whole_file(text: str) -> str:
    return f"Here is the file.\n\n```python\n{text}```\n"


def search_replace(search: str, replace: str, header: str = "") -> str:
    return f"{header}```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


async def test_whole_file_reply_is_written_and_accounted(worktree: Path) -> None:
    model = scripted(reply(whole_file(FIXED), input_tokens=1000, output_tokens=200))
    fixer = LlmFixer(settings(), model=model)

    outcome = await fixer.fix(request(worktree))

    assert outcome.error is None and outcome.stop is None
    assert (worktree / PATH).read_text() == FIXED
    price = listed_price("openai", "gpt-4o-mini")
    assert price is not None and price.input > 0
    assert outcome.usage == Usage(1, 1000, 200, (1000 * price.input + 200 * price.output) / 1_000_000)
    assert fixer.budget.spent == outcome.usage
    system, user = (m.text for m in model.prompts[0])
    assert "single fenced code block" in system
    assert "- line 1, column 8: ruff F401: `os` imported but unused" in user
    assert '- line 5, column 12: mypy return-value: Incompatible return value type (got "int", expected "str")' in user
    assert "5 |     return sum(xs)" in user
    assert "line-length = 88" in user and "strict = true" in user and "[tool.other]" not in user
    assert "ruff F401: Unused import: delete it." in user
    assert "previous attempt" not in user.lower()


async def test_long_file_gets_search_replace_blocks(worktree: Path) -> None:
    long = BROKEN + "".join(f"\n\ndef f{n}() -> int:\n    return {n}\n" for n in range(80))
    (worktree / PATH).write_text(long)
    model = scripted(reply(search_replace("import os\n\n\n", "")))
    fixer = LlmFixer(settings(), model=model)

    outcome = await fixer.fix(request(worktree))

    assert outcome.error is None
    assert (worktree / PATH).read_text() == long.removeprefix("import os\n\n\n")
    assert "<<<<<<< SEARCH" in model.prompts[0][0].text
    assert "Answer with SEARCH/REPLACE blocks" in model.prompts[0][1].text


async def test_both_reply_formats_are_accepted_whatever_was_asked(worktree: Path) -> None:
    model = scripted(whole_file(FIXED))
    fixer = LlmFixer(settings(edit_format="search-replace"), model=model)

    outcome = await fixer.fix(request(worktree))

    assert outcome.error is None
    assert (worktree / PATH).read_text() == FIXED
    assert "<<<<<<< SEARCH" in model.prompts[0][0].text
    # A provider that reports no usage costs a call and nothing else.
    assert outcome.usage == Usage(calls=1)


async def test_search_that_does_not_match_fails_the_attempt_and_is_said_on_retry(worktree: Path) -> None:
    model = scripted(
        reply(search_replace("def total(xs: list[str]) -> str:\n", "def total(xs: list[int]) -> int:\n")),
        reply(
            search_replace("import os\n\n\ndef total(xs: list[int]) -> str:\n", "def total(xs: list[int]) -> int:\n")
        ),
    )
    fixer = LlmFixer(settings(), model=model)

    first = await fixer.fix(request(worktree))

    assert first.error is not None
    assert first.error.startswith("SEARCH/REPLACE block 1 of 1 does not match the file")
    assert "nearest: line 4, 'def total(xs: list[int]) -> str:'" in first.error
    assert (worktree / PATH).read_text() == BROKEN
    assert first.usage.calls == 1

    second = await fixer.fix(request(worktree, attempt=2, feedback=first.error))

    assert second.error is None
    assert (worktree / PATH).read_text() == FIXED
    retry_prompt = model.prompts[1][1].text
    assert "This is attempt 2 of 3" in retry_prompt
    assert first.error in retry_prompt
    assert fixer.budget.spent.calls == 2


@pytest.mark.parametrize(
    "text",
    [
        search_replace("import os\n", "", header="pkg/other.py\n"),
        search_replace("import os\n", "", header="../outside.py\n"),
        "setup.py\n```python\nprint('hi')\n```\n",
    ],
)
async def test_reply_naming_another_file_changes_nothing(worktree: Path, text: str) -> None:
    fixer = LlmFixer(settings(), model=scripted(text))
    before = sorted(p.relative_to(worktree) for p in worktree.parent.rglob("*"))

    outcome = await fixer.fix(request(worktree))

    assert outcome.error is not None and f"only {PATH} may be edited" in outcome.error
    assert (worktree / PATH).read_text() == BROKEN
    assert sorted(p.relative_to(worktree) for p in worktree.parent.rglob("*")) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the reply was empty"),
        ("Sorry, I can't see any problem.", "no SEARCH/REPLACE block and no fenced code block"),
        ("```python\ndef total(xs", "not closed"),
    ],
)
async def test_empty_or_garbage_reply_is_a_failed_attempt(worktree: Path, text: str, message: str) -> None:
    fixer = LlmFixer(settings(), model=scripted(reply(text, 500, 3)))

    outcome = await fixer.fix(request(worktree))

    assert outcome.error is not None and message in outcome.error
    assert outcome.stop is None
    assert outcome.usage.calls == 1 and outcome.usage.input_tokens == 500
    assert (worktree / PATH).read_text() == BROKEN


async def test_max_calls_stops_new_calls_without_calling_the_model(worktree: Path) -> None:
    model = scripted("nonsense", "nonsense", "never sent")
    fixer = LlmFixer(settings(max_calls=2), model=model)

    outcomes = [await fixer.fix(request(worktree, attempt=n)) for n in (1, 2, 3)]

    assert [o.stop for o in outcomes] == [None, None, "budget: 2 model calls made (llm.max_calls = 2)"]
    assert outcomes[2].usage == Usage()
    assert len(model.prompts) == 2


async def test_concurrent_calls_never_exceed_max_calls(worktree: Path) -> None:
    gate = asyncio.Event()
    model = scripted(*[whole_file(FIXED)] * 6, gate=gate)
    fixer = LlmFixer(settings(max_calls=3), model=model)

    tasks = [asyncio.create_task(fixer.fix(request(worktree))) for _ in range(6)]

    async def three_running_three_stopped() -> None:
        # The calls over budget read the file and build the prompt in threads before they
        # stop, so they may end after the three allowed calls have started.
        while model.running < 3 or sum(t.done() for t in tasks) < 3:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(three_running_three_stopped(), timeout=30)
    stopped = [t for t in tasks if t.done()]
    gate.set()
    outcomes = await asyncio.gather(*tasks)

    assert len(stopped) == 3
    assert all(t.result().stop == "budget: 3 model calls made (llm.max_calls = 3)" for t in stopped)
    assert sum(o.usage.calls for o in outcomes) == 3
    assert model.peak == 3 and len(model.prompts) == 3


async def test_token_budget_lets_running_calls_finish_then_stops(worktree: Path) -> None:
    gate = asyncio.Event()
    model = scripted(reply("junk", 400, 100), reply("junk", 400, 100), "never sent", gate=gate)
    fixer = LlmFixer(settings(max_tokens=600), model=model)

    running = [asyncio.create_task(fixer.fix(request(worktree))) for _ in range(2)]
    while model.running < 2:
        await asyncio.sleep(0.01)
    gate.set()
    first, second = await asyncio.gather(*running)
    third = await fixer.fix(request(worktree))

    # Both calls that had started finished and were counted, past the limit.
    assert first.usage.calls == second.usage.calls == 1
    assert fixer.budget.spent.input_tokens + fixer.budget.spent.output_tokens == 1000
    assert third.stop == "budget: 1,000 tokens spent (llm.max_tokens = 600)"
    assert len(model.prompts) == 2


async def test_cost_budget_uses_configured_prices(worktree: Path) -> None:
    prices = {MODEL: {"input": 1000.0, "output": 1000.0}}
    model = scripted(reply("junk", 600, 400), "never sent")
    fixer = LlmFixer(settings(max_cost=0.5, prices=prices), model=model)

    first = await fixer.fix(request(worktree))
    second = await fixer.fix(request(worktree))

    assert first.usage.cost == pytest.approx(1.0)
    assert second.stop == "budget: $1.0000 spent (llm.max_cost = $0.5)"
    assert len(model.prompts) == 1


async def test_a_call_waits_for_the_rate_limiter_before_it_counts(worktree: Path) -> None:
    model = scripted(whole_file(FIXED))
    fixer = LlmFixer(settings(rate_limit=0.001), model=model)  # the first token comes after 1000 s

    task = asyncio.create_task(fixer.fix(request(worktree)))
    for _ in range(20):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert model.prompts == []
    assert fixer.budget.started == 0
    assert (worktree / PATH).read_text() == BROKEN


def test_max_cost_without_a_known_price_is_refused() -> None:
    config = StomperSettings.model_validate({"model": "openai:my-finetune", "llm": {"max_cost": 1.0}})

    with pytest.raises(
        FixerError, match=r'no price is known for openai:my-finetune: add \[llm.prices."openai:my-finetune"\]'
    ):
        LlmFixer(config, model=scripted())


async def test_crlf_file_keeps_its_line_endings(worktree: Path) -> None:
    (worktree / PATH).write_bytes(BROKEN.replace("\n", "\r\n").encode())
    fixer = LlmFixer(settings(), model=scripted(search_replace("import os\n\n\n", "")))

    outcome = await fixer.fix(request(worktree))

    assert outcome.error is None
    assert (worktree / PATH).read_bytes() == BROKEN.removeprefix("import os\n\n\n").replace("\n", "\r\n").encode()


async def test_file_that_leads_outside_the_worktree_is_left_alone(worktree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(BROKEN)
    (worktree / "pkg" / "link.py").symlink_to(outside)
    model = scripted(whole_file(FIXED))
    fixer = LlmFixer(settings(), model=model)

    outcome = await fixer.fix(request(worktree, path="pkg/link.py"))

    assert outcome.stop == "pkg/link.py resolves outside the worktree; the llm fixer leaves it alone"
    assert outside.read_text() == BROKEN
    assert model.prompts == []


def test_missing_provider_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    config = StomperSettings.model_validate({"model": "anthropic:claude-haiku-4-5"})

    with pytest.raises(FixerError, match=r"pip install 'stomper-fix\[anthropic\]'"):
        LlmFixer(config)


def test_missing_anthropic_key_is_said_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    config = StomperSettings.model_validate({"model": "anthropic:claude-haiku-4-5"})

    with pytest.raises(
        FixerError, match=r"^the model anthropic:claude-haiku-4-5 needs an API key: set ANTHROPIC_API_KEY"
    ):
        LlmFixer(config)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("", "cannot tell the provider of model ''"),
        ("my-own-model", "cannot tell the provider of model 'my-own-model': write it as provider:model"),
        ("acme:gpt-4o-mini", "unknown model provider 'acme' in model 'acme:gpt-4o-mini'; LangChain knows: anthropic, "),
    ],
)
def test_model_must_name_a_provider_langchain_knows(model: str, message: str) -> None:
    with pytest.raises(FixerError, match=f"^{re.escape(message)}") as caught:
        LlmFixer(StomperSettings.model_validate({"model": model}))
    assert "model_provider" not in str(caught.value)


def test_a_bare_model_name_gets_its_provider_inferred_as_init_chat_model_does(api_key: str) -> None:
    fixer = LlmFixer(StomperSettings.model_validate({"model": "gpt-4o-mini", "llm": {"max_cost": 1.0}}))

    assert type(fixer.model).__name__ == "ChatOpenAI"
    assert fixer.model.model_name == "gpt-4o-mini"  # type: ignore[attr-defined]
    assert fixer.budget.price == listed_price("openai", "gpt-4o-mini")


def test_model_kwargs_reach_the_chat_model_and_win_over_stomper_own(api_key: str) -> None:
    config = StomperSettings.model_validate(
        {"model": MODEL, "llm": {"request_timeout": 7, "model_kwargs": {"temperature": 0.25, "max_retries": 0}}}
    )

    model: Any = LlmFixer(config).model

    assert (model.temperature, model.max_retries, model.request_timeout) == (0.25, 0, 7)


def test_max_cost_works_for_a_model_only_the_price_table_knows(monkeypatch: pytest.MonkeyPatch) -> None:
    config = StomperSettings.model_validate({"model": "google_genai:gemini-2.5-flash", "llm": {"max_cost": 0.01}})

    fixer = LlmFixer(config, model=scripted())

    assert fixer.budget.price is not None and fixer.budget.price.output > fixer.budget.price.input > 0


def test_configured_price_wins_over_the_table() -> None:
    config = StomperSettings.model_validate(
        {"model": "gpt-4o-mini", "llm": {"max_cost": 1.0, "prices": {"gpt-4o-mini": {"input": 1, "output": 2}}}}
    )

    assert LlmFixer(config, model=scripted()).budget.price == Price(input=1, output=2)


def test_missing_api_key_is_a_fixer_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(FixerError, match=r"^the model openai:gpt-4o-mini needs an API key: set OPENAI_API_KEY"):
        LlmFixer(settings())


# The real langchain-openai client, over HTTP, against a local OpenAI-compatible server.

SECRET = "sk-test-0123456789abcdefghijklmnop"


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return SECRET


def answer_fixed(body: dict[str, Any]) -> str:
    return whole_file(FIXED)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(answer_fixed, refusals=[rate_limited(retry_after="1")]).running() as running:
        yield running


async def test_real_openai_client_retries_a_429_and_fixes_the_file(
    worktree: Path, server: OpenAIServer, api_key: str
) -> None:
    fixer = LlmFixer(settings(base_url=server.url, max_retries=2, request_timeout=30))

    outcome = await fixer.fix(request(worktree))

    assert outcome == FixOutcome(usage=outcome.usage)
    assert (worktree / PATH).read_text() == FIXED
    assert len(server.received) == 2
    assert len(server.answered) == 1
    sent = server.received[1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == f"Bearer {api_key}"
    assert "ruff F401: `os` imported but unused" in sent.prompt
    assert "mypy return-value: Incompatible return value type" in sent.prompt
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    # One call for the budget, however many HTTP requests its retries took; tokens as the server counted them.
    assert outcome.usage.calls == 1
    assert outcome.usage.input_tokens == sum(len(m["content"]) for m in sent.body["messages"]) // 4
    assert outcome.usage.output_tokens == len(whole_file(FIXED)) // 4


async def test_refused_api_key_stops_every_later_call_and_is_never_shown(worktree: Path, api_key: str) -> None:
    refused = Refusal(
        401, {}, {"error": {"message": f"Incorrect API key provided: {api_key}", "code": "invalid_api_key"}}
    )
    with OpenAIServer(answer_fixed, refusals=[refused]).running() as server:
        fixer = LlmFixer(settings(base_url=server.url))

        with pytest.raises(FixerError) as first:
            await fixer.fix(request(worktree))
        with pytest.raises(FixerError) as second:
            await fixer.fix(request(worktree))

    said = str(first.value)
    assert said.startswith("the provider refused the API key (HTTP 401)")
    assert isinstance(first.value.__cause__, openai.AuthenticationError)
    assert api_key not in said and "sk-test" not in said
    assert str(second.value) == said
    assert fixer.budget.started == 1
    assert len(server.received) == 1
    assert (worktree / PATH).read_text() == BROKEN


async def test_server_errors_after_the_retries_fail_the_attempt(worktree: Path, api_key: str) -> None:
    busy = Refusal(503, {"Retry-After": "0"}, {"error": {"message": "overloaded"}})
    with OpenAIServer(answer_fixed, refusals=[busy, busy]).running() as server:
        fixer = LlmFixer(settings(base_url=server.url, max_retries=1))

        outcome = await fixer.fix(request(worktree))

    # The client made its retries; another attempt would make them all again: the file's attempts end here.
    assert (
        outcome.stop is not None
        and outcome.stop.startswith("the model call failed: ")
        and "Error code: 503" in outcome.stop
    )
    assert outcome.error is None and outcome.usage == Usage(calls=1)
    assert len(server.received) == 2
    assert os.environ["OPENAI_API_KEY"] not in outcome.stop


async def test_no_credential_reaches_the_provider_in_feedback_or_diagnostics(
    worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "glpat-Xy7Zq2Wv9Ku4Ts1R"
    monkeypatch.setenv("CI_DEPLOY_TOKEN", token)
    model = scripted(reply(whole_file(FIXED)))
    fixer = LlmFixer(settings(), model=model)
    said = f"test_deploy failed: 401 for token {token}"
    failing = (*DIAGNOSTICS, Diagnostic(PATH, 1, 1, "pytest", "failed", said))

    await fixer.fix(FixRequest(worktree, PATH, failing, 2, 3, f"Your change broke a test: {said}"))

    sent = "\n".join(str(m.text) for m in model.prompts[0])
    assert "test_deploy failed: 401 for token [redacted]" in sent
    assert "Your change broke a test: test_deploy failed: 401 for token [redacted]" in sent
    assert token not in sent and token.removeprefix("glpat-") not in sent


TEST_PATH = "tests/test_calc.py"
TEST_TEXT = "from pkg.calc import add\n\n\ndef test_add() -> None:\n    assert add(2, 2) == 4\n"
CALC = "def add(a: int, b: int) -> int:\n    return a - b\n"
TRACEBACK = (
    "def test_add() -> None:\n>       assert add(2, 2) == 4\n"
    "E       assert 0 == 4\n\ntests/test_calc.py:5: AssertionError"
)
FAILURE = Diagnostic(
    TEST_PATH, 4, 1, "pytest", "failed", "test_add: assert 0 == 4", symbol="tests.test_calc::test_add", detail=TRACEBACK
)


@pytest.fixture
def unit(worktree: Path) -> FixRequest:
    (worktree / "tests").mkdir()
    (worktree / TEST_PATH).write_text(TEST_TEXT)
    (worktree / PATH).write_text(CALC)
    return FixRequest(worktree, TEST_PATH, (FAILURE,), 1, 3, files=(TEST_PATH, PATH))


async def test_a_units_prompt_holds_the_failing_test_its_traceback_and_every_file(unit: FixRequest) -> None:
    model = scripted(reply(search_replace("    return a - b\n", "    return a + b\n", header=f"{PATH}\n")))
    fixer = LlmFixer(settings(), model=model)

    outcome = await fixer.fix(unit)

    assert outcome.error is None, outcome.error
    assert (unit.worktree / PATH).read_text() == CALC.replace("a - b", "a + b")
    assert (unit.worktree / TEST_PATH).read_text() == TEST_TEXT
    system, user = (m.text for m in model.prompts[0])
    assert "each under a line holding\nonly the path of the file it edits" in system
    assert f"Only these files may be edited: `{TEST_PATH}`, `{PATH}`" in user
    assert "### tests/test_calc.py::test_add" in user
    assert "def test_add() -> None:\n    assert add(2, 2) == 4\n```" in user  # the test's own source
    assert "E       assert 0 == 4" in user  # its traceback
    assert f"## The file `{PATH}` (2 lines" in user and "2 |     return a - b" in user
    assert f"## The file `{TEST_PATH}` (5 lines" in user


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("pkg/other.py\n", "names the file pkg/other.py, which is not one of the files you may edit"),
        ("../pkg/calc.py\n", "names the file ../pkg/calc.py, which is not one of the files you may edit"),
        ("", "does not name its file"),
    ],
)
async def test_a_block_for_a_file_outside_the_unit_is_refused_and_nothing_changes(
    unit: FixRequest, header: str, said: str
) -> None:
    good = search_replace("    return a - b\n", "    return a + b\n", header=f"{PATH}\n")
    bad = search_replace("    return a - b\n", "    return a * 2\n", header=header)
    fixer = LlmFixer(settings(), model=scripted(reply(good + "\n" + bad)))

    outcome = await fixer.fix(unit)

    assert outcome.error is not None and said in outcome.error
    assert (unit.worktree / PATH).read_text() == CALC
    assert (unit.worktree / TEST_PATH).read_text() == TEST_TEXT


def test_what_a_call_imports_is_known_for_openai_and_unknown_for_a_model_handed_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run starts branches beside its import thread only for fixers that say what they import when they fix.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")

    measured = LlmFixer(settings()).imports
    handed_in = LlmFixer(settings(), model=scripted()).imports

    assert measured is not None
    assert {"langchain_core.tracers.langchain", "anyio._backends._asyncio", "httpx"} <= set(measured)
    assert handed_in is None
