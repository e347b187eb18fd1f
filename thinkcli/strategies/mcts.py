"""`mcts`: Monte-Carlo tree search over reasoning steps.

Hao et al. 2023, "Reasoning with Language Model is Planning with World Model" (RAP);
Zhang et al. 2024, "Accessing GPT-4 level Mathematical Olympiad Solutions via
LLaMa-3 8B: Monte Carlo Tree Self-refine" (MCTSr).

Each iteration: select a leaf by UCT from the root; expand it (when it has been
visited, or is the root) into E sampled next steps; simulate by rolling the
solution out to a final answer and scoring it (the verifier, else inverse perplexity
when the backend gives log-probs, else the model's self-evaluation); back-propagate
the value to the root. ``--samples N`` is the number of iterations (rollouts).
The answer follows the most-visited path and takes the best rollout under it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from thinkcli.answers import extract
from thinkcli.events import RoundStarted, SampleDone, Usage
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem
from thinkcli.strategies.scoring import anytime, outcome_of, rank, score, value_verifier
from thinkcli.strategies.stepwise import Stepper, is_final, join

C_UCT = math.sqrt(2)  # Kocsis & Szepesvari's exploration constant for values in [0, 1]


@dataclass
class Node:
    step: str = ""
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value: float = 0.0  # sum of backed-up values; the mean is value / visits
    terminal: bool = False
    tokens: int = 0  # completion tokens of the path from the root to here
    sample: int = -1  # the sample that wrote this step
    logprobs: list[float] | None = field(default_factory=list)  # of this step; None if unknown
    best: Candidate | None = None  # the best-scored rollout through this node

    @property
    def text(self) -> str:
        return (self.parent.text if self.parent else "") + self.step

    @property
    def path_logprobs(self) -> list[float] | None:
        """Log-probs of every step from the root; None when any step had none."""
        above = self.parent.path_logprobs if self.parent else []
        return None if above is None or self.logprobs is None else above + self.logprobs

    @property
    def mean(self) -> float:
        return self.value / self.visits if self.visits else 0.0


def uct(child: Node, parent_visits: int, c: float = C_UCT) -> float:
    """Upper confidence bound of a child; an unvisited child is tried first.

    >>> uct(Node(visits=0), 3)
    inf
    >>> round(uct(Node(visits=1, value=1.0), 2), 3)  # 1 + sqrt(2) * sqrt(ln 2 / 1)
    2.177
    """
    if child.visits == 0:
        return math.inf
    return child.mean + c * math.sqrt(math.log(max(parent_visits, 1)) / child.visits)


def select(root: Node, c: float = C_UCT) -> Node:
    """Descend by UCT (ties to the earlier child) to a node without children.

    >>> root = Node(visits=3)
    >>> a = Node("a", root, visits=2, value=2.0); b = Node("b", root, visits=1, value=0.0)
    >>> root.children = [a, b]
    >>> select(root).step
    'a'
    >>> select(root, c=4.0).step  # more exploration favours the less-visited child
    'b'
    """
    node = root
    while node.children:
        node = max(node.children, key=lambda ch: uct(ch, node.visits, c))
    return node


def backpropagate(node: Node | None, value: float, cand: Candidate | None) -> None:
    while node is not None:
        node.visits += 1
        node.value += value
        if cand is not None and (node.best is None or rank(cand) > rank(node.best)):
            node.best = cand
        node = node.parent


def most_visited_path(root: Node) -> list[Node]:
    """The path that follows the most-visited child (ties to the higher mean, then the earlier)."""
    path = [root]
    while path[-1].children and any(ch.visits for ch in path[-1].children):
        kids = path[-1].children
        path.append(max(kids, key=lambda ch: (ch.visits, ch.mean, -kids.index(ch))))
    return path


def search(problem: Problem, plan: Plan, meter, verifier, sink) -> tuple[Node, Outcome]:
    """Run the tree search; return the tree (for inspection) and the outcome."""
    iterations = max(1, plan.samples)
    expansions = max(1, plan.expansions)
    c = float(plan.extra.get("uct_c", C_UCT))
    checker = value_verifier(verifier, meter)
    stepper = Stepper(meter, problem.question, problem.system)
    root = Node()
    rollouts: list[Candidate] = []
    notes: list[str] = []

    def answer_now() -> Outcome:
        leaf = next((n for n in reversed(most_visited_path(root)) if n.best is not None), None)
        out = outcome_of(rollouts, notes)
        if leaf is not None:
            out.answer, out.chosen = leaf.best.answer, leaf.best.sample
        return out

    with anytime(answer_now):
        for it in range(1, iterations + 1):
            sink.emit(RoundStarted(f"iteration {it}/{iterations}"))
            node = select(root, c)
            if not node.terminal and (node.visits > 0 or node is root):
                for gen in stepper.next_steps(node.text, plan.params(), expansions, label=f"expand {it}"):
                    tokens = node.tokens + gen.usage.completion_tokens
                    node.children.append(Node(
                        join("", gen.text, gen.finish_reason == "length") if gen.text.strip() else "",
                        node,
                        terminal=is_final(gen.text) or not gen.text.strip() or tokens >= plan.max_tokens,
                        tokens=tokens,
                        sample=gen.sample,
                        logprobs=gen.logprobs,
                    ))
                node = node.children[0]
            if node.terminal and node.best is not None:
                backpropagate(node, node.best.score or 0.0, None)  # a finished solution's value is known
                continue
            cand = simulate(node, stepper, plan, it)
            verdict = score(checker, problem.question, cand, sink)
            sink.emit(SampleDone(cand.sample, cand.answer, Usage(completion_tokens=cand.completion_tokens), cand.score, cand.text))
            rollouts.append(cand)
            backpropagate(node, verdict.score, cand)
            if verdict.passed:
                notes.append(f"rollout {it} passed {checker.name}; stopped early")
                return root, outcome_of(rollouts, notes)  # the pass outranks every earlier failure
    visits = ", ".join(str(ch.visits) for ch in root.children)
    notes.append(f"mcts: {iterations} iteration(s), root children visited [{visits}]")
    return root, answer_now()


def mcts(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    return search(problem, plan, meter, verifier, sink)[1]


def simulate(node: Node, stepper: Stepper, plan: Plan, it: int) -> Candidate:
    """Roll the solution at ``node`` out to a final answer (a terminal node is already there)."""
    text, sample, tokens, logprobs = node.text, node.sample, node.tokens, node.path_logprobs
    if not node.terminal:
        budget = max(1, plan.max_tokens - node.tokens)
        gen = stepper.rollout(node.text, plan.params(max_tokens=budget), label=f"rollout {it}")
        text, sample, tokens = node.text + gen.text, gen.sample, tokens + gen.usage.completion_tokens
        logprobs = None if logprobs is None or gen.logprobs is None else logprobs + gen.logprobs
    answer = extract(text).answer if text.strip() else None
    mean = sum(logprobs) / len(logprobs) if logprobs else None
    return Candidate(sample, text.rstrip(), answer, tokens, mean_logprob=mean)
