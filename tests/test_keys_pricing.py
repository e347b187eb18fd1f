"""Keys bound to base URLs, the price table and its overrides, and the cost of a remote run."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from dataclasses import replace

import httpx
import pytest

from thinkcli import keys, pricing
from thinkcli.backends.base import GenParams
from thinkcli.backends.models import resolve
from thinkcli.backends.openai import OpenAIBackend, base_url_for
from thinkcli.engine import Budgets, Request, run
from thinkcli.errors import ConfigError, UsageError
from thinkcli.events import BudgetStop, ListSink, Spend, Usage
from thinkcli.ui.summary import summary_line

KEY = "sk-stored-abcdef0123456789"


# -- keys -----------------------------------------------------------------------------


def test_stored_keys_are_private_and_listed_by_name_only(isolated_config):
    keys.set_key("groq", KEY, "https://api.groq.com/openai/v1/")
    path = isolated_config / "keys.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.list_keys() == [("groq", "https://api.groq.com/openai/v1")]
    assert keys.unset_key("groq") is True and keys.unset_key("groq") is False
    assert keys.list_keys() == []


@pytest.mark.parametrize("bad", ["", "   ", "two words"])
def test_a_bad_key_is_refused(bad):
    with pytest.raises(UsageError):
        keys.set_key("groq", bad, "https://api.groq.com/openai/v1")


def test_a_stored_key_is_chosen_only_for_its_own_base_url():
    keys.set_key("local", KEY, "http://127.0.0.1:8080/v1")
    here = keys.choose_key("openai", "http://127.0.0.1:8080/v1/", {}, environ={})
    there = keys.choose_key("openai", "http://127.0.0.1:9090/v1", {}, environ={})
    assert here.secret is not None and here.secret.reveal() == KEY
    assert there.secret is None


def test_openai_api_key_goes_to_openai_or_to_openai_base_url_only():
    env = {"OPENAI_API_KEY": KEY}
    assert keys.choose_key("openai", keys.DEFAULT_BASE_URL, {}, env).secret.reveal() == KEY
    assert keys.choose_key("openai", "http://evil.test/v1", {}, env).secret is None
    paired = {**env, "OPENAI_BASE_URL": "http://paired.test/v1"}
    assert keys.choose_key("openai", "http://paired.test/v1", {}, paired).secret.reveal() == KEY


def test_a_providers_key_variable_and_hint():
    options = {"base_url": "https://api.groq.com/openai/v1", "api_key_env": "MY_GROQ"}
    choice = keys.choose_key("groq", options["base_url"], options, {"MY_GROQ": KEY})
    assert choice.secret.reveal() == KEY and choice.hint == "set MY_GROQ or run `think keys set groq`"
    default = keys.choose_key("groq", options["base_url"], {"base_url": options["base_url"]}, {})
    assert default.secret is None and "GROQ_API_KEY" in default.hint


def test_base_url_precedence():
    ref = resolve("openai:gpt-4o-mini")
    assert base_url_for(ref, {}, environ={}) == keys.DEFAULT_BASE_URL
    assert base_url_for(ref, {}, environ={"OPENAI_BASE_URL": "http://a/v1"}) == "http://a/v1"
    assert base_url_for(ref, {"base_url": "http://b/v1/"}, environ={"OPENAI_BASE_URL": "http://a/v1"}) == "http://b/v1"
    provider = resolve("groq:llama", settings={"providers": {"groq": {"base_url": "https://g/v1"}}})
    assert base_url_for(provider, {"base_url": "http://b/v1"}, environ={}) == "https://g/v1"
    with pytest.raises(UsageError, match="must start with http"):
        base_url_for(ref, {"base_url": "localhost:8000"}, environ={})


def test_keys_set_reads_stdin_and_never_prints_the_key(think, isolated_config):
    proc = think("keys", "set", "local", "--base-url", "http://127.0.0.1:1/v1", input=KEY + "\n")
    assert proc.returncode == 0, proc.stderr
    listed = think("keys", "list")
    assert listed.stdout.decode().split() == ["local", "http://127.0.0.1:1/v1"]
    for p in (proc, listed):
        assert KEY.encode() not in p.stdout + p.stderr
    assert KEY in (isolated_config / "keys.toml").read_text()
    missing = think("keys", "set", "nowhere", input=KEY + "\n")
    assert missing.returncode == 2 and b"pass --base-url URL" in missing.stderr
    assert think("keys", "unset", "local").returncode == 0
    gone = think("keys", "unset", "local")
    assert gone.returncode == 1 and b"no stored key named 'local'" in gone.stderr


# -- prices ------------------------------------------------------------------------------


def test_known_and_unknown_prices():
    cost = pricing.price_function("openai:gpt-4o-mini")
    assert cost(Usage(1_000_000, 1_000_000)) == pytest.approx(0.75)
    assert pricing.price_function("openrouter:openai/gpt-4o-mini-2024-07-18")(Usage(1_000_000, 0)) == pytest.approx(0.15)
    assert pricing.price_function("openai:my-own-model")(Usage(10, 10)) is None


def test_user_prices_override_the_shipped_table(isolated_config):
    (isolated_config / "prices.toml").write_text('[models."gpt-4o-mini"]\ninput = 1.0\noutput = 2.0\n'
                                                 '[models."smollm"]\ninput = 0.5\noutput = 0.5\ncached = 0.0\n')
    assert pricing.price_function("openai:gpt-4o-mini")(Usage(1_000_000, 1_000_000)) == pytest.approx(3.0)
    assert pricing.price_function("openai:smollm")(Usage(2_000_000, 0, 0, 1_000_000)) == pytest.approx(0.5)


@pytest.mark.parametrize("text,match", [("[models.x]\ninput = 1\n", "needs input and output"),
                                        ("[models.x]\ninput = 1\noutput = -1\n", "must be a number >= 0"),
                                        ("[models.x]\ninput = 1\noutput = 1\nfree = 1\n", "unknown field"),
                                        ("models = [", "not valid TOML")])
def test_a_bad_price_file_is_a_one_line_error(isolated_config, text, match):
    (isolated_config / "prices.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        pricing.lookup("openai:x")


def _sse(usage: dict) -> httpx.Response:
    docs = [{"choices": [{"index": 0, "delta": {"content": "Final answer: 4"}, "finish_reason": "stop"}]},
            {"choices": [], "usage": usage}]
    text = "".join(f"data: {json.dumps(d)}\n\n" for d in docs) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=text)


def test_a_remote_run_costs_the_reported_tokens_at_the_table_price():
    requests = []

    def handler(request):
        requests.append(request)
        return _sse({"prompt_tokens": 1000, "completion_tokens": 2000,
                     "prompt_tokens_details": {"cached_tokens": 400}})

    b = OpenAIBackend("gpt-4o-mini", "http://x.test/v1", display="openai:gpt-4o-mini", transport=httpx.MockTransport(handler))
    sink = ListSink()
    result = run(Request("What is 2 + 2?", max_tokens=64), sink, backend=b)
    b.close()
    assert result.answer == "4" and result.local is False
    assert result.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 2000 * 0.60) / 1e6)
    [spend] = sink.of(Spend)  # the running total the live view shows, once per finished sample
    assert (spend.cost_usd, spend.local, spend.usage.completion_tokens) == (result.cost_usd, False, 2000)


def test_max_cost_stops_before_a_request_that_could_overspend():
    requests = []

    def handler(request):
        requests.append(request)
        return _sse({"prompt_tokens": 10, "completion_tokens": 10})

    b = OpenAIBackend("gpt-4o-mini", "http://x.test/v1", display="openai:gpt-4o-mini", transport=httpx.MockTransport(handler))
    sink = ListSink()
    # 512 completion tokens at $0.60 per million can cost $0.0003; the budget is a third of that
    result = run(Request("What is 2 + 2?", max_tokens=512, budgets=Budgets(max_cost=0.0001)), sink, backend=b)
    b.close()
    assert requests == [] and result.stopped_by == "cost" and sink.of(BudgetStop)[0].budget == "cost"


def _judge(fake_models, model: str, usage: dict):
    """``--judge-model fake:MODEL`` is a remote ``model`` behind a mock transport."""
    judge = OpenAIBackend(model, "http://x.test/v1", display=f"openai:{model}",
                          transport=httpx.MockTransport(lambda request: _sse(usage)))
    fake_models.backends[model] = judge
    return judge


def test_a_paid_judge_is_priced_at_its_own_rate_behind_a_free_local_model(fake, fake_models):
    # The answering model is local (free); the judge is gpt-4o-mini at $0.15 in / $0.60 out per million.
    fake.capabilities = replace(fake.capabilities, local=True)
    fake.enqueue("Final answer: 4", "Final answer: 5")
    _judge(fake_models, "gpt-4o-mini", {"prompt_tokens": 1000, "completion_tokens": 10})
    sink = ListSink()
    result = run(Request("What is 2 + 2?", strategy="best-of-n", samples=2, judge_model="fake:gpt-4o-mini"),
                 sink, backend=fake)
    assert result.cost_usd == pytest.approx(2 * (1000 * 0.15 + 10 * 0.60) / 1e6)
    assert result.local is False and "$0.0003" in summary_line(result)
    assert sink.of(Spend)[-1].cost_usd == result.cost_usd and sink.of(Spend)[0].local is True


def test_max_cost_counts_the_judges_price(fake, fake_models):
    fake.capabilities = replace(fake.capabilities, local=True)
    fake.enqueue("Final answer: 4", "Final answer: 5", "Final answer: 6")
    _judge(fake_models, "gpt-4o-mini", {"prompt_tokens": 1000, "completion_tokens": 10})
    result = run(Request("What is 2 + 2?", strategy="best-of-n", samples=3, judge_model="fake:gpt-4o-mini",
                         budgets=Budgets(max_cost=0.0002)), ListSink(), backend=fake)
    assert result.stopped_by == "cost"
    assert result.cost_usd <= 0.0002


def test_max_cost_with_an_unpriced_judge_is_refused_up_front(fake, fake_models):
    fake.capabilities = replace(fake.capabilities, local=True)
    _judge(fake_models, "my-judge", {})
    with pytest.raises(UsageError, match="no price is known for model openai:my-judge"):
        run(Request("q", strategy="best-of-n", samples=2, judge_model="fake:my-judge",
                    budgets=Budgets(max_cost=1.0)), ListSink(), backend=fake)
    assert fake.calls == []


def test_help_imports_neither_httpx_nor_llama_cpp():
    code = (
        "import sys, contextlib, io\n"
        "import thinkcli.cli as cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        cli.app(['--help'], prog_name='think')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert '--base-url' in out.getvalue(), out.getvalue()[:200]\n"
        "print(sorted(m for m in ('httpx', 'llama_cpp', 'httpcore') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_generation_params_reach_the_backend_as_given():
    # the GenParams the engine builds are what the server receives, not reshaped defaults
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return _sse({"prompt_tokens": 1, "completion_tokens": 1})

    b = OpenAIBackend("m", "http://x.test/v1", transport=httpx.MockTransport(handler))
    list(b.generate([{"role": "user", "content": "q"}], GenParams(max_tokens=3, temperature=0.0, logprobs=False)))
    b.close()
    assert seen[0]["max_tokens"] == 3 and seen[0]["temperature"] == 0.0 and "logprobs" not in seen[0]
