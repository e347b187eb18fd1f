"""`think calibrate`: the replay arithmetic exact on a scripted draw, the split, the choice
per effort level, the draw through a scripted backend, and the real model through the CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FakeBackend, Reply
from thinkcli import calibrate, draws, replay
from thinkcli.bench import Item
from thinkcli.replay import Question, Sample, Setting


def S(answer: str | None, gold: str = "7", tokens: int = 10, sc: float = 0.0) -> Sample:
    return Sample(answer, answer == gold, tokens, {"self-certainty": sc})


def scripted() -> list[Question]:
    """Three questions with 4 samples each (gold 7), chosen so that each rule answers differently."""
    return [
        # majority says 7 (2 of 4); the most certain sample says 9.
        Question("q1", "arith", {"direct": [S("7", sc=1), S("9", sc=5), S("7", sc=1), S("3", sc=2)]},
                 {"direct": S("7", tokens=8)}),
        # majority says 9 (3 of 4); the lone 7 is the most certain and outweighs them.
        Question("q2", "arith", {"direct": [S("9", sc=1), S("7", sc=4), S("9", sc=1), S("9", sc=1)]},
                 {"direct": S("9", tokens=8)}),
        # nobody is right; sample 0 gave no answer.
        Question("q3", "fact", {"direct": [S(None, tokens=20, sc=3), S("2"), S("2"), S("5")]},
                 {"direct": S("2", tokens=8)}),
    ]


@pytest.mark.parametrize(
    ("rule", "n", "accuracy"),
    [
        # n=1: blocks are the single samples; q1 right in 2 of 4, q2 in 1 of 4, q3 never.
        ("majority", 1, (2 / 4 + 1 / 4 + 0) / 3),
        # n=2: blocks [0,1] and [2,3]. q1: {7,9} tie -> first vote 7 right; {7,3} -> 7 right. q2: {9,7} -> 9;
        # {9,9} -> 9. So 2/2, 0/2, 0/2. (No log-probs here: ties go to the earliest vote.)
        ("majority", 2, (1 + 0 + 0) / 3),
        # weighted by self-certainty at n=2: q1 block 0 {7:1, 9:5} -> 9 wrong, block 1 {7:1, 3:2} -> 3 wrong;
        # q2 block 0 {9:1, 7:4} -> 7 right, block 1 -> 9.
        ("weighted:self-certainty", 2, (0 + 1 / 2 + 0) / 3),
        # n=4, one block: majority q1 -> 7, q2 -> 9; weighted q1 {7:2, 9:5, 3:2} -> 9, q2 {9:3, 7:4} -> 7.
        ("majority", 4, 1 / 3),
        ("weighted:self-certainty", 4, 1 / 3),
        ("best:self-certainty", 4, 1 / 3),
    ],
)
def test_replay_accuracy_of_each_rule_at_each_subset_size(rule, n, accuracy):
    point = replay.evaluate(Setting("direct", rule, n), scripted())
    assert point.accuracy == pytest.approx(accuracy)


def test_replay_majority_breaks_ties_by_mean_logprob_as_the_vote_does():
    lp = lambda a, v: Sample(a, a == "7", 10, {"mean-logprob": v})  # noqa: E731
    q = Question("q", "x", {"direct": [lp("9", -2.0), lp("7", -0.5), lp("9", -0.1), lp("7", -0.2)]})
    # 9 and 7 tie 2-2; 7's voters average -0.35 against 9's -1.05, so 7 wins
    assert replay.evaluate(Setting("direct", "majority", 4), [q]).correct == [1.0]


def test_replay_tokens_and_greedy():
    qs = scripted()
    assert replay.evaluate(Setting("direct", "majority", 4), qs).tokens == [40, 40, 50]
    assert replay.evaluate(Setting("direct", "majority", 2), qs).tokens == [20, 20, 25]  # q3: (30 + 20) / 2
    greedy = replay.evaluate(Setting("direct", replay.GREEDY), qs)
    assert (greedy.correct, greedy.tokens) == ([1.0, 0.0, 0.0], [8.0, 8.0, 8.0])
    assert replay.coverage(qs, "direct", 4) == pytest.approx(2 / 3)


def test_adaptive_stop_and_auto_probe_replay():
    q = Question("q", "x", {"direct": [S("7"), S("7"), S("9"), S("9")]})
    # beta:0.8 stops after two agreeing samples (posterior 0.875): 20 tokens, answer 7.
    point = replay.evaluate(Setting("direct", "majority", 4, "beta:0.8"), [q])
    assert (point.correct, point.tokens) == ([1.0], [20.0])
    # at 0.95 it needs more: after 4 samples (2-2) it has drawn everything.
    assert replay.evaluate(Setting("direct", "majority", 4, "beta:0.95"), [q]).tokens == [40.0]
    # auto: the probe of 2 agrees, so it stops there...
    assert replay.evaluate(Setting("direct", "majority", 4, probe=2), [q]).tokens == [20.0]
    # ...unless its mean self-certainty (0) is under the easy threshold: then all 4, tie to the first vote.
    hard = replay.evaluate(Setting("direct", "majority", 4, probe=2, easy_signal="self-certainty",
                                   easy_threshold=1.0), [q])
    assert (hard.correct, hard.tokens) == ([1.0], [40.0])


def test_anchored_probe_replay_puts_the_greedy_reply_first_in_every_block():
    q = Question("q", "x", {"direct": [S("9"), S("9"), S("7"), S("9")]}, {"direct": S("7")})
    # a sampled probe (9, 9) agrees on the wrong answer and stops there
    plain = replay.evaluate(Setting("direct", "majority", 4, probe=2), [q])
    assert (plain.correct, plain.tokens) == ([0.0], [20.0])
    # anchored: greedy + 3 samples (7, 9, 9, 7); the probe (7, 9) disagrees, so all 4 are drawn and
    # the 2-2 tie (equal log-probs) goes to the earliest answer, the greedy reply's
    four = replay.evaluate(Setting("direct", "majority", 4, probe=2, anchor=True), [q])
    assert (four.correct, four.tokens) == ([1.0], [40.0])
    assert Setting("direct", "majority", 4, probe=2, anchor=True).label == "direct majority n=4 probe=greedy+1"
    knobs = calibrate.knobs(Setting("direct", "majority", 8, "beta:0.8", probe=2, anchor=True), 0.4)
    assert (knobs["strategy"], knobs["probe"], knobs["probe_greedy"], knobs["round_size"]) == ("auto", 2, True, 2)


def test_choice_prefers_plain_majority_within_noise_and_respects_budgets():
    def P(setting, correct, tokens):
        return replay.Point(setting, correct, [tokens] * len(correct), ["a"] * len(correct))

    ones = [1.0] * 6 + [0.0] * 4
    points = [
        P(Setting("direct", replay.GREEDY), [1.0] * 3 + [0.0] * 7, 10),
        P(Setting("direct", "majority", 1), [1.0] * 2 + [0.0] * 8, 10),
        P(Setting("direct", "majority", 8), ones, 80),
        # one question better than majority: within one paired standard error, so majority stays
        P(Setting("direct", "weighted:self-certainty", 8), [1.0] * 7 + [0.0] * 3, 80),
        P(Setting("direct", "majority", 2), [1.0] * 4 + [0.0] * 6, 20),
        P(Setting("direct", "majority", 8, probe=2), ones, 30),
        P(Setting("direct", "majority", 4, probe=2), [1.0] * 5 + [0.0] * 5, 25),
    ]
    chosen = replay.choose(points)
    assert chosen["low"].setting.rule == replay.GREEDY
    assert chosen["high"].setting == Setting("direct", "majority", 8)
    assert chosen["medium"].setting == Setting("direct", "majority", 2)  # 20 <= 0.35 * 80
    assert chosen["auto"].setting == Setting("direct", "majority", 8, probe=2)  # 30 <= 0.4 * 80


def test_high_draws_the_whole_budget_with_the_stop_rule_the_calibration_picks():
    # Half the draw (8 of 16) scores a little better than all 16: high still may draw 16, and
    # takes the best rule and stop among the 16-sample plans; medium may take the 8.
    def P(setting, correct, tokens):
        return replay.Point(setting, correct, [tokens] * len(correct), ["a"] * len(correct))

    points = [
        P(Setting("direct", replay.GREEDY), [1.0] * 3 + [0.0] * 7, 10),
        P(Setting("direct", "majority", 8), [1.0] * 7 + [0.0] * 3, 80),
        P(Setting("direct", "majority", 16), [1.0] * 5 + [0.0] * 5, 160),
        P(Setting("direct", "majority", 16, "beta:0.95"), [1.0] * 6 + [0.0] * 4, 120),
    ]
    chosen = replay.choose(points)
    assert chosen["high"].setting == Setting("direct", "majority", 16, "beta:0.95")
    # nothing fits in 0.35 * 120 tokens: medium takes the cheapest plan at least as accurate as low
    assert chosen["medium"].setting == Setting("direct", "majority", 8)


def test_high_does_not_take_the_lax_stop_even_when_it_scores_a_little_higher():
    # The 0.8 stop ends after two agreeing samples: cheaper, and here one question better on
    # the calibration split. High effort keeps drawing while the answer is uncertain, so high
    # takes the 0.95 stop; medium, which spends by budget, may take the lax one.
    def P(setting, right, tokens):
        return replay.Point(setting, [1.0] * right + [0.0] * (10 - right), [tokens] * 10, ["a"] * 10)

    points = [
        P(Setting("direct", replay.GREEDY), 3, 10),
        P(Setting("direct", "majority", 16, "beta:0.8"), 7, 50),
        P(Setting("direct", "majority", 16, "beta:0.95"), 6, 120),
        P(Setting("direct", "majority", 16), 6, 160),
    ]
    chosen = replay.choose(points)
    assert chosen["high"].setting == Setting("direct", "majority", 16, "beta:0.95")
    assert chosen["medium"].setting == Setting("direct", "majority", 16, "beta:0.8")  # 50 > 0.35 * 120: cheapest above low


def test_no_level_may_trade_one_kind_of_question_for_another(monkeypatch):
    # Two kinds, 12 questions each; (word, yes/no) right out of (12, 12):
    #   low (greedy) 6 + 12 = 18; "trade" gets every word problem but loses 4 yes/no: 12 + 8 = 20;
    #   "honest" 7 + 12 = 19. auto: "auto_trade" 12 + 8 = 20 in 20 tokens, "auto_ok" 8 + 12 = 20 in 30.
    # The trades are the more accurate (or cheaper) on the mixed set, and clearly worse on yes/no.
    kinds = ["word"] * 12 + ["yes-no"] * 12

    def P(setting, word, yes_no, tokens):
        correct = [1.0] * word + [0.0] * (12 - word) + [1.0] * yes_no + [0.0] * (12 - yes_no)
        return replay.Point(setting, correct, [tokens] * 24, kinds)

    low = P(Setting("direct", replay.GREEDY), 6, 12, 10)
    trade = P(Setting("direct", "majority", 8, "beta:0.95"), 12, 8, 60)
    honest = P(Setting("direct", "majority", 8), 7, 12, 80)
    auto_trade = P(Setting("direct", "majority", 8, probe=2), 12, 8, 20)
    auto_ok = P(Setting("direct", "majority", 4, probe=2), 8, 12, 30)
    points = [low, trade, honest, auto_trade, auto_ok]
    assert replay.kind_deficit(trade, low) > replay.KIND_SE >= replay.kind_deficit(honest, low)
    chosen = replay.choose(points)
    assert (chosen["high"].setting, chosen["auto"].setting) == (honest.setting, auto_ok.setting)
    # without the guard, the mixed-set figures alone pick both trades
    monkeypatch.setattr(replay, "KIND_SE", float("inf"))
    unguarded = replay.choose(points)
    assert (unguarded["high"].setting, unguarded["auto"].setting) == (trade.setting, auto_trade.setting)


def test_knobs_and_split_are_what_presets_run():
    assert calibrate.knobs(Setting("direct", "weighted:self-certainty", 16), 0.4) == {
        "strategy": "vote", "samples": 16, "prompt_style": "direct", "temperature": 0.4,
        "select": "weighted:self-certainty", "futility": False, "round_size": 16, "confidence": 1.0}
    auto = calibrate.knobs(Setting("direct", "majority", 8, probe=2, easy_signal="mean-logprob",
                                   easy_threshold=-0.25), 0.4)
    assert (auto["strategy"], auto["probe"], auto["round_size"], auto["easy_threshold"]) == ("auto", 2, 6, -0.25)
    qs = [Question(f"q{i}", "ab"[i % 2], {}) for i in range(20)]
    cal, held = calibrate.split(qs, 0.3, seed=1)
    assert (len(cal), len(held)) == (14, 6)
    assert calibrate.split(qs, 0.3, seed=1) == (cal, held)
    assert not {q.id for q in cal} & {q.id for q in held}


def test_draw_through_a_scripted_backend_and_round_trip(tmp_path):
    fake = FakeBackend()
    fake.responder = lambda call, i: Reply("Final answer: 7" if i % 2 == 0 else "Final answer: 8",
                                           logprobs=[-0.5, -0.1, -0.3])
    items = [Item("What is 3 + 4?", "7", id="d:1", kind="arith"), Item("What is 2 + 5?", "7", id="d:2", kind="arith")]
    draw = draws.draw(items, fake, data="d", model_key="model:fake", samples=4, styles=["direct"],
                          temperature=0.4, max_tokens=16, seed=5)
    # one batched call of 4 per question and style, then one greedy sample
    assert [(c.n, c.params.temperature, c.params.seed) for c in fake.calls] == [
        (4, 0.4, 5), (1, 0.0, 5), (4, 0.4, 1005), (1, 0.0, 1005)]
    q = draw.questions[0]
    assert [s.correct for s in q.samples["direct"]] == [True, False, True, False]
    assert q.samples["direct"][0].signals["mean-logprob"] == pytest.approx(-0.3)
    assert q.samples["direct"][0].tokens == 3
    assert draw.signals() == ["inverse-perplexity", "mean-logprob"]
    path = tmp_path / "draw.json"
    path.write_text(draw.to_json())
    again = draws.load(path)
    assert again == draw
    result = calibrate.calibrate(again, holdout=0.5, seed=0)
    assert set(result.chosen) == {"low", "medium", "high", "auto"}
    assert len(result.calibration) == 1 and len(result.heldout) == 1
    assert json.loads(json.dumps(calibrate.as_json(result, None)))["chosen"]["high"]["accuracy"] == 1.0
    calibrate.plot(result, str(tmp_path / "frontier.png"))
    assert (tmp_path / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert "compute-optimal frontier" in calibrate.report(result)


# -- profiles and the presets that read them ---------------------------------------------

PROFILE = {"key": "model:fake-model", "model": "fake-model", "effort": {
    "low": {"strategy": "cot", "samples": 1, "prompt_style": "direct", "temperature": 0.0},
    "high": {"strategy": "vote", "samples": 3, "prompt_style": "steps", "temperature": 0.3, "round_size": 3,
             "confidence": 1.0, "select": "weighted:mean-logprob", "accuracy": 0.5}}}


def test_profile_round_trips_and_is_found_by_model_key(tmp_path):
    from thinkcli import profiles

    fake = FakeBackend()
    assert profiles.model_key(fake) == "model:fake-model"
    assert profiles.for_backend(fake) is None
    path = profiles.save(PROFILE)
    assert path.parent == profiles.profiles_dir() and path.name == "model-fake-model.toml"
    loaded = profiles.for_backend(fake)
    assert loaded == {**PROFILE, "source": str(path)}


def test_gguf_key_is_the_file_hash_cached_by_path_size_and_mtime(tmp_path):
    import hashlib
    import os

    from thinkcli import profiles

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"x" * 1000)
    want = "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()
    assert profiles.file_hash(model) == want
    cache = json.loads((profiles.profiles_dir() / "hashes.json").read_text())
    assert list(cache.values()) == [want]
    # the cached value is what a second call returns (proved by planting another one)
    stamp = next(iter(cache))
    (profiles.profiles_dir() / "hashes.json").write_text(json.dumps({stamp: "sha256:planted"}))
    assert profiles.file_hash(model) == "sha256:planted"
    # a changed file (size and mtime) is hashed again
    model.write_bytes(b"GGUF" + b"y" * 2000)
    os.utime(model, ns=(1, 1))
    assert profiles.file_hash(model) == "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()


@pytest.mark.parametrize(("knob", "value"), [("samples", "many"), ("prompt_style", "loud"), ("samples", 0),
                                              ("futility", "yes")])
def test_a_bad_profile_is_one_usage_error_naming_the_file(tmp_path, knob, value):
    from thinkcli import profiles
    from thinkcli.errors import UsageError

    bad = {**PROFILE, "effort": {"high": {**PROFILE["effort"]["high"], knob: value}}}
    path = tmp_path / "bad.toml"
    path.write_text(profiles.dumps(bad))
    with pytest.raises(UsageError) as err:
        profiles.read(path)
    assert str(path) in err.value.message and f"effort.high.{knob}" in err.value.message


def test_preset_honours_the_profile_and_json_plan_says_where_each_knob_came_from():
    from thinkcli import engine, profiles, strategies
    from thinkcli.events import NullSink

    profiles.save(PROFILE)
    fake = FakeBackend()
    fake.enqueue(Reply("Final answer: 4", [-2.0]), Reply("Final answer: 5", [-0.1]), Reply("Final answer: 4", [-3.0]))
    result = engine.run(engine.Request("q", effort="high", max_tokens=32), NullSink(), backend=fake)
    # the profile's plan ran: 3 samples in one call, step-by-step prompts, temperature 0.3
    assert [(c.n, c.params.temperature) for c in fake.calls] == [(3, 0.3)]
    assert "step by step" in fake.calls[0].messages[-1]["content"]
    plan = result.plan
    assert (plan["strategy"], plan["samples"], plan["prompt_style"], plan["select"]) == ("vote", 3, "steps",
                                                                                       "weighted:mean-logprob")
    assert plan["profile"].endswith("model-fake-model.toml")
    assert plan["sources"]["samples"] == "profile" and plan["sources"]["temperature"] == "profile"
    assert plan["sources"]["max_tokens"] == "flag"
    # a flag beats the profile
    fake.enqueue(Reply("Final answer: 4"), Reply("Final answer: 4"))
    result = engine.run(engine.Request("q", effort="high", samples=2), NullSink(), backend=fake)
    assert fake.calls[-1].n == 2 and result.plan["sources"]["samples"] == "flag"
    # another strategy than the profile's: its knobs were not measured for it, so defaults
    fake.enqueue(*[Reply("Final answer: 4")] * 5)
    result = engine.run(engine.Request("q", effort="high", strategy="best-of-n", samples=2), NullSink(), backend=fake)
    assert result.plan["temperature"] == 0.7 and result.plan["sources"]["temperature"] == "default"
    # ... except the prompt style, measured for the model: it carries to another strategy that samples
    # whole answers (low's direct style to a vote at low), not to one with prompts of its own (refine)
    fake.enqueue(*[Reply("Final answer: 4")] * 5)
    result = engine.run(engine.Request("q", strategy="vote", samples=2), NullSink(), backend=fake)
    assert "step by step" not in fake.calls[-1].messages[-1]["content"]
    assert (result.plan["prompt_style"], result.plan["sources"]["prompt_style"]) == ("direct", "profile")
    assert result.plan["sources"]["temperature"] == "default"
    refine = strategies.plan_for("low", "fake-model", PROFILE, strategy="refine")
    assert (refine.prompt_style, refine.sources["prompt_style"]) == ("steps", "default")
    # medium is not in the profile: shipped defaults, said so
    fake.enqueue(*[Reply("Final answer: 4")] * 5)
    result = engine.run(engine.Request("q", effort="medium"), NullSink(), backend=fake)
    assert result.plan["sources"]["samples"] == result.plan["sources"]["prompt_style"] == "default"
    assert result.plan["sources"]["max_tokens"] == "default" and result.plan["max_tokens"] == 512


def test_json_plan_sources_through_the_cli_name_the_built_in_default_and_the_config(think, embedded_model):
    """On the embedded model with nothing set, max_tokens is the built-in default (it was
    reported as a flag) and the shipped profile's knobs say profile; from THINK_MAX_TOKENS
    it counts as a flag, as the README says."""
    import json

    plan = json.loads(think("What is 2+2?", "--json").stdout)["plan"]
    assert plan["max_tokens"] == 512 and plan["sources"]["max_tokens"] == "default"
    assert plan["sources"]["seed"] == "default" and plan["sources"]["strategy"] == "profile"
    plan = json.loads(think("What is 2+2?", "--json", env={"THINK_MAX_TOKENS": "8"}).stdout)["plan"]
    assert plan["max_tokens"] == 8 and plan["sources"]["max_tokens"] == "flag"
    # an explicit whole-answer strategy keeps the style the profile measured for the model (program)
    out = json.loads(think("What is 17 * 23?", "--strategy", "vote", "-n", "2", "--max-tokens", "48", "--json").stdout)
    assert (out["plan"]["prompt_style"], out["plan"]["sources"]["prompt_style"]) == ("program", "profile")
    assert out["answer"] == "391"  # the model writes 17 * 23 and the calculator does the sum


def test_think_models_shows_which_models_are_calibrated(think, isolated_config):
    from thinkcli import profiles

    models = isolated_config / "models"
    models.mkdir()
    (models / "tuned.gguf").write_bytes(b"GGUF" + b"t" * 64)
    (models / "plain.gguf").write_bytes(b"GGUF" + b"p" * 64)
    profiles.save({**PROFILE, "key": profiles.file_hash(models / "tuned.gguf")})
    proc = think("models")
    assert proc.returncode == 0, proc.stderr
    lines = {line[2:].split()[0]: line.split() for line in proc.stdout.decode().splitlines()}
    assert lines["NAME"][-1] == "CALIBRATED"
    # a file never hashed is not hashed just to be listed: unknown, "-"
    assert lines["tuned"][-1] == "yes" and lines["plain"][-1] == "-"
    rows = {r["name"]: r for r in json.loads(think("models", "--json").stdout)}
    assert rows["tuned"]["calibrated"] is True and rows["plain"]["calibrated"] is None
    profiles.file_hash(models / "plain.gguf")
    assert {r["name"]: r for r in json.loads(think("models", "--json").stdout)}["plain"]["calibrated"] is False


@pytest.mark.parametrize(("args", "message"), [
    (["--styles", "loud"], "--styles: unknown 'loud'"),
    (["--plot", "x.gif"], "give a .png, .svg or .pdf file"),
    (["missing.jsonl"], "no data file missing.jsonl"),
])
def test_calibrate_bad_input_is_one_line_usage_error(think, tmp_path, args, message):
    proc = think("calibrate", *args, cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.model
def test_real_model_calibrate_smoke_writes_a_profile_the_presets_then_use(think, tmp_path, isolated_config):
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [
        {"question": "What is 2 + 2?", "answer": "4", "kind": "a"},
        {"question": "What is 3 + 5?", "answer": "8", "kind": "a"},
        {"question": "Is 10 greater than 3? Answer yes or no.", "answer": "yes", "kind": "b"},
        {"question": "What is the capital of France?", "answer": "Paris", "kind": "b"}]))
    draw = tmp_path / "draw.json"
    proc = think("calibrate", str(data), "--samples", "4", "--styles", "direct", "--max-tokens", "12",
                 "--holdout", "0.5", "--draw", str(draw), "--json", "--seed", "3", timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert (doc["questions"], doc["calibration_questions"], doc["heldout_questions"]) == (4, 2, 2)
    assert doc["key"].startswith("sha256:") and set(doc["chosen"]) == {"low", "medium", "high", "auto"}
    assert {"mean-logprob", "inverse-perplexity"} <= {p["rule"].split(":")[1] for p in doc["points"] if ":" in p["rule"]}
    profile = doc["profile"]
    assert profile.startswith(str(isolated_config / "profiles"))
    # `think --effort high --json` on the embedded model now reads it and says so
    proc = think("--effort", "high", "--json", "--max-tokens", "8", "What is 1 + 1?", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    plan = json.loads(proc.stdout)["plan"]
    assert plan["profile"] == profile and plan["sources"]["samples"] == "profile"
    assert plan["samples"] == doc["profile_knobs"]["high"]["samples"]
    # the saved draw replays without the model: same choice
    again = think("calibrate", str(data), "--draw", str(draw), "--holdout", "0.5", "--seed", "3", "--json", "--no-save")
    assert json.loads(again.stdout)["chosen"] == doc["chosen"]


def test_auto_spends_by_estimated_difficulty_from_agreement_and_confidence():
    from thinkcli import engine, profiles
    from thinkcli.events import NullSink

    auto = {"strategy": "auto", "samples": 6, "prompt_style": "direct", "temperature": 0.4, "probe": 2,
            "round_size": 4, "confidence": 1.0, "easy_signal": "mean-logprob", "easy_threshold": -0.5}
    profiles.save({**PROFILE, "effort": {"auto": auto}})
    fake = FakeBackend()
    # easy: the probe agrees and is confident (mean log-prob -0.2 >= -0.5): two samples, stop
    fake.enqueue(Reply("Final answer: 4", [-0.2]), Reply("Final answer: 4", [-0.2]))
    result = engine.run(engine.Request("q", effort="auto"), NullSink(), backend=fake)
    assert [c.n for c in fake.calls] == [2] and result.answer == "4"
    assert any("mean mean-logprob -0.2 >= -0.5; stopped" in n for n in result.notes)
    # agrees but unsure (-2 < -0.5): the other 4 samples in one round, and the vote overturns the probe
    fake.enqueue(Reply("Final answer: 4", [-2.0]), Reply("Final answer: 4", [-2.0]),
                 *[Reply("Final answer: 5", [-1.0])] * 4)
    result = engine.run(engine.Request("q", effort="auto"), NullSink(), backend=fake)
    assert [c.n for c in fake.calls[1:]] == [2, 4] and result.answer == "5"
    assert any("the probe agrees but is unsure" in n for n in result.notes)
    assert result.plan["sources"]["samples"] == "profile"


def test_a_profiles_greedy_probe_asks_temperature_zero_first_and_json_shows_the_knob():
    from thinkcli import engine, profiles
    from thinkcli.events import NullSink

    auto = {"strategy": "auto", "samples": 4, "prompt_style": "direct", "temperature": 0.4, "probe": 2,
            "probe_greedy": True, "round_size": 2, "confidence": 1.0}
    profiles.save({**PROFILE, "effort": {"auto": auto}})
    fake = FakeBackend()
    # the greedy reply says 4, the sample 5: not easy, so the other 2 samples are drawn; 5 wins 3-1
    fake.enqueue(*[Reply(f"Final answer: {a}", [-0.5]) for a in ("4", "5", "5", "5")])
    result = engine.run(engine.Request("q", effort="auto"), NullSink(), backend=fake)
    assert [(c.n, c.params.temperature) for c in fake.calls] == [(1, 0.0), (1, 0.4), (2, 0.4)]
    assert result.answer == "5" and result.votes == {"4": 1, "5": 3}
    assert result.plan["probe_greedy"] is True and result.plan["sources"]["probe_greedy"] == "profile"


def test_shipped_profile_is_the_embedded_models_and_the_readme_table_shows_it(embedded_model):
    import re

    from tests.conftest import ROOT
    from thinkcli import profiles

    key = profiles.file_hash(embedded_model)
    shipped = profiles.shipped()[key]
    assert shipped["source"] == "shipped:smollm2-135m.toml" and set(shipped["effort"]) == set(profiles.EFFORT_LEVELS)
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(low|medium|high|auto)`[^|]*\| [^|]+\| ([\d.]+)% \| ([\d.]+)% \|", text, re.MULTILINE)
    assert {r[0] for r in rows} == set(profiles.EFFORT_LEVELS)
    for level, cal, held in rows:
        knobs = shipped["effort"][level]
        assert float(cal) == pytest.approx(100 * knobs["accuracy"], abs=0.051)
        assert float(held) == pytest.approx(100 * knobs["heldout_accuracy"], abs=0.051)


# -- the replay is the preset: same samples, same answer, same tokens --------------------


@pytest.mark.parametrize("setting", [
    Setting("direct", "majority", 8, "beta:0.8"),
    Setting("direct", "majority", 8, "beta:0.95"),
    Setting("direct", "weighted:mean-logprob", 8, "beta:0.8"),
    Setting("direct", "best:mean-logprob", 8),
    Setting("direct", "filtered:mean-logprob:0.5", 8, "beta:0.95"),
    Setting("direct", "majority", 8, "beta:0.8", probe=2),
    Setting("direct", "weighted:mean-logprob", 8, "beta:0.8", probe=2, anchor=True),
    Setting("direct", "majority", 8, "beta:0.95", probe=2, easy_signal="mean-logprob", easy_threshold=-1.0,
            anchor=True),
], ids=lambda s: s.label)
def test_replay_scores_exactly_what_the_preset_runs_on_the_same_samples(setting):
    """Calibration chooses plans by replaying them over a draw; that is only sound if the preset
    the profile writes, run live on the same samples, answers the same and spends the same. On 40
    scripted questions (a greedy reply and 8 samples each, answers scattered over 7, 8 and 9 with
    random log-probs), the live run through the engine and ``replay.run_block`` agree exactly."""
    import random

    from thinkcli import engine, profiles
    from thinkcli.bench import is_correct
    from thinkcli.events import NullSink

    profiles.save({"key": "model:fake-model", "model": "fake-model",
                   "effort": {"high": calibrate.knobs(setting, 0.4)}})
    rng = random.Random(setting.label)
    item = Item("What is 3 + 4?", "7", id="d:1", kind="arith")
    for _ in range(40):
        replies = [Reply(f"Final answer: {rng.choice('77899')}", logprobs=[rng.uniform(-2, 0) for _ in range(3)])
                   for _ in range(9)]

        def scripted_backend(replies=replies):
            sampled = iter(replies[1:])
            return FakeBackend(responder=lambda call, i: replies[0] if call.params.temperature == 0 else next(sampled))

        [q] = draws.draw([item], scripted_backend(), data="d", model_key="model:fake-model", samples=8,
                             styles=["direct"], temperature=0.4, max_tokens=16, seed=0).questions
        right, tokens = replay.run_block(replay.setting_blocks(q, setting)[0], setting)
        live = engine.run(engine.Request(item.question, effort="high", max_tokens=16, seed=0), NullSink(),
                          backend=scripted_backend())
        assert (is_correct(item, live.answer, ""), live.usage.completion_tokens) == (right, tokens), (
            [r.text[-1] for r in replies], live.notes)
