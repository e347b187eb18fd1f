"""Model pulls: Hugging Face references, quant choice, the Hub listing and the local cache.

A pulled model is a reference: ``hf.co/USER/REPO[:QUANT]`` (stored in the standard
Hugging Face cache, ``HF_HUB_CACHE``/``HF_HOME`` honoured, so llama.cpp and
huggingface_hub find the same files) or a direct ``https://.../NAME.gguf`` URL
(stored in the user data dir). Looking a model up in the cache never touches the
network; ``pull`` asks the Hub (``HF_ENDPOINT`` honoured) and hands each missing
file to ``hub_transfer``. huggingface_hub is imported only when needed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from thinkcli.errors import ModelUnavailable, ThinkError, UsageError
from thinkcli.files import atomic_write, data_dir

DEFAULT_QUANT = "Q4_K_M"
HF_PREFIXES = ("hf.co/", "huggingface.co/", "https://huggingface.co/", "https://hf.co/")
SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
QUANT_RE = re.compile(r"(?:^|[-._])((?:UD-)?(?:I?Q\d(?:_[0-9A-Z]{1,3})*|TQ\d_\d|BF16|F16|FP16|F32|MXFP4))(?=[-._]|$)", re.IGNORECASE)
# Approximate bits per weight: "closest to Q4_K_M" means closest in size and quality.
BPW = {
    "IQ1_S": 1.56, "IQ1_M": 1.75, "IQ2_XXS": 2.06, "IQ2_XS": 2.31, "IQ2_S": 2.5, "IQ2_M": 2.7,
    "Q2_K": 2.96, "IQ3_XXS": 3.06, "IQ3_XS": 3.3, "IQ3_S": 3.44, "Q3_K_S": 3.5, "IQ3_M": 3.66,
    "Q3_K_M": 3.91, "IQ4_XS": 4.25, "Q3_K_L": 4.27, "IQ4_NL": 4.5, "Q4_0": 4.55, "Q4_K_S": 4.58,
    "Q4_K_M": 4.85, "Q4_1": 5.0, "Q5_0": 5.54, "Q5_K_S": 5.54, "Q5_K_M": 5.69, "Q5_1": 6.0,
    "Q6_K": 6.59, "Q8_0": 8.5, "F16": 16.0, "FP16": 16.0, "BF16": 16.0, "F32": 32.0,
}


class NotPulled(ModelUnavailable):
    """The reference is valid but its files are not on this machine yet."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"model {ref} is not pulled yet; run `think models pull {ref}`")
        self.ref = ref


@dataclass(frozen=True)
class HubRef:
    repo: str  # USER/REPO
    quant: str | None = None  # None: Q4_K_M, else the closest there is

    @property
    def text(self) -> str:
        return f"hf.co/{self.repo}" + (f":{self.quant}" if self.quant else "")


@dataclass
class HubFile:
    name: str  # path inside the repo
    size: int | None
    sha256: str | None  # the LFS hash; None for files kept in git


@dataclass
class Choice:
    """One model in a repo: a quant and its file(s), parts in order."""

    quant: str
    files: list[HubFile] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)


def is_pull_ref(ref: str | None) -> bool:
    """Whether ``ref`` names something `think models pull` fetches.

    >>> is_pull_ref("hf.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF:Q8_0"), is_pull_ref("openai:gpt-4o")
    (True, False)
    """
    return bool(ref) and (ref.startswith(HF_PREFIXES) or ref.startswith(("https://", "http://")))


def parse_hf(ref: str) -> HubRef | None:
    """``hf.co/USER/REPO[:QUANT]`` as a HubRef; None for any other reference.

    >>> parse_hf("hf.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF:q8_0")
    HubRef(repo='bartowski/Qwen2.5-1.5B-Instruct-GGUF', quant='Q8_0')
    >>> parse_hf("https://example.org/model.gguf") is None
    True
    """
    prefix = next((p for p in HF_PREFIXES if ref.startswith(p)), None)
    if prefix is None:
        return None
    rest = ref[len(prefix):].strip("/")
    if rest.endswith(".gguf") or "/resolve/" in rest:
        return None  # a file URL on the Hub: a direct pull
    repo, _, quant = rest.partition(":")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise UsageError(f"{ref!r} is not hf.co/USER/REPO[:QUANT], e.g. hf.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M")
    return HubRef(repo, quant.upper() or None)


def quant_of(filename: str) -> str | None:
    """The quantisation a GGUF file name states.

    >>> quant_of("Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"), quant_of("SmolLM2-135M-Instruct.Q4_1.gguf")
    ('Q4_K_M', 'Q4_1')
    >>> quant_of("m-UD-IQ2_XXS-00001-of-00003.gguf"), quant_of("model.gguf")
    ('UD-IQ2_XXS', None)
    """
    stem = SPLIT_RE.sub("", Path(filename).name)
    stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    found = QUANT_RE.findall(stem)
    return found[-1].upper() if found else None


def group_models(files: list[HubFile]) -> list[Choice]:
    """The GGUF models among a repo's files, split parts gathered under their first part."""
    groups: dict[tuple[str, str], Choice] = {}
    for f in files:
        base = Path(f.name).name
        if not base.lower().endswith(".gguf") or base.lower().startswith("mmproj"):
            continue  # vision projectors are not models on their own
        key_name = SPLIT_RE.sub("", f.name)
        quant = quant_of(f.name) or Path(key_name).name.removesuffix(".gguf")
        groups.setdefault((quant, key_name), Choice(quant)).files.append(f)
    for choice in groups.values():
        choice.files.sort(key=lambda f: f.name)
    return sorted(groups.values(), key=lambda c: (_bpw(c.quant), c.quant))


def _bpw(quant: str) -> float:
    base = quant.upper().removeprefix("UD-")
    if base in BPW:
        return BPW[base]
    digit = re.search(r"Q(\d)", base)
    return int(digit.group(1)) + 0.6 if digit else 99.0


def choose(models: list[Choice], ref: HubRef) -> Choice:
    """The model a reference asks for: its quant, or Q4_K_M, else the closest to it."""
    if not models:
        raise ModelUnavailable(
            f"{ref.text} has no .gguf files; pick a repo with GGUF in its name, e.g. search "
            f"https://huggingface.co/models?search={ref.repo.split('/')[-1]}+gguf"
        )
    there = ", ".join(dict.fromkeys(m.quant for m in models))
    if ref.quant:
        hits = [m for m in models if m.quant.upper() in (ref.quant, f"UD-{ref.quant}")]
        if not hits:
            raise ModelUnavailable(
                f"no {ref.quant} in hf.co/{ref.repo}; it has {there}; "
                f"run `think models pull hf.co/{ref.repo}:{models[0].quant}` with one of them"
            )
        return hits[0]
    target = BPW[DEFAULT_QUANT]
    return min(models, key=lambda m: (abs(_bpw(m.quant) - target), -_bpw(m.quant)))


# ---- the cache (standard Hugging Face layout) --------------------------------------------

def cache_dir() -> Path:
    """HF_HUB_CACHE, else HF_HOME/hub, else huggingface_hub's default (~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        return Path(os.path.expanduser(os.environ["HF_HOME"])) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def repo_dir(repo: str) -> Path:
    return cache_dir() / ("models--" + repo.replace("/", "--"))


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def offline() -> bool:
    return (os.environ.get("HF_HUB_OFFLINE") or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _snapshots(repo: str) -> list[Path]:
    """The repo's snapshot folders, the one refs/main names first, then newest first."""
    root = repo_dir(repo)
    snaps = root / "snapshots"
    if not snaps.is_dir():
        return []
    main = _read(root / "refs" / "main")
    found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: -p.stat().st_mtime)
    return sorted(found, key=lambda p: p.name != main)


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8").strip()
    except OSError:
        return None


def _local_files(snapshot: Path) -> list[HubFile]:
    out = []
    for p in sorted(snapshot.rglob("*.gguf")):
        if p.exists():  # a dangling link is a file another tool removed
            out.append(HubFile(p.relative_to(snapshot).as_posix(), p.stat().st_size, None))
    return out


def cached_choice(ref: HubRef) -> tuple[Path, Choice] | None:
    """The snapshot folder and the model a reference resolves to, from the cache alone."""
    for snap in _snapshots(ref.repo):
        models = group_models(_local_files(snap))
        models = [m for m in models if _complete(m)]
        if not models:
            continue
        try:
            return snap, choose(models, ref)
        except ModelUnavailable:
            continue
    return None


def _complete(choice: Choice) -> bool:
    """All parts of a split model are there (part 1 says how many)."""
    m = SPLIT_RE.search(choice.files[0].name)
    return m is None or len(choice.files) == int(m.group(2))


def cached_path(ref: str) -> Path | None:
    """Where a pull reference's model file (its first part) is, or None: never the network."""
    hub = parse_hf(ref)
    if hub is not None:
        hit = cached_choice(hub)
        return hit[0] / hit[1].files[0].name if hit else None
    path = url_target(ref)
    return path if path.is_file() else None


# ---- direct URLs (user data dir) ---------------------------------------------------------

def models_dir() -> Path:
    """Where direct-URL pulls and user-placed GGUF files live (THINK_MODELS_DIR overrides)."""
    if os.environ.get("THINK_MODELS_DIR"):
        return Path(os.environ["THINK_MODELS_DIR"])
    return data_dir() / "models"


def url_target(url: str) -> Path:
    name = Path(urlsplit(url).path).name
    if not name.lower().endswith(".gguf"):
        raise UsageError(f"{url} does not name a .gguf file; give the URL of the file itself")
    return models_dir() / name


def sources_path() -> Path:
    return models_dir() / "sources.json"


def sources() -> dict[str, dict]:
    """file name -> {"url", "sha256"} for each direct-URL pull."""
    try:
        data = json.loads(sources_path().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_source(name: str, url: str | None, sha256: str | None) -> None:
    data = sources()
    if url is None:
        data.pop(name, None)
    else:
        data[name] = {"url": url, "sha256": sha256}
    atomic_write(sources_path(), json.dumps(data, indent=2))


# ---- tokens ------------------------------------------------------------------------------

def token_for(url: str, environ: Mapping[str, str] | None = None):
    """The Hub token a request to ``url`` may carry (a keys.Secret), or None.

    Only the Hub's own host gets one: HF_TOKEN, else `think keys set huggingface`
    (bound to the endpoint it was stored for), else huggingface_hub's login file.
    """
    from thinkcli import keys

    environ = os.environ if environ is None else environ
    hub = endpoint()
    if urlsplit(url).netloc.lower() != urlsplit(hub).netloc.lower():
        return None
    value = (environ.get("HF_TOKEN") or environ.get("HUGGING_FACE_HUB_TOKEN") or "").strip()
    if value:
        return keys.Secret(value)
    stored = keys.read_keys().get("huggingface")
    if stored and keys.same_url(stored.get("base_url", ""), hub):
        return keys.Secret(stored["key"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    value = _read(Path(os.environ.get("HF_TOKEN_PATH") or os.path.join(home, "token")))
    return keys.Secret(value) if value else None


TOKEN_HINT = "set HF_TOKEN or run `think keys set huggingface`"


class HubUnreachable(ModelUnavailable):
    """No answer from the Hub: a cached copy may still serve."""


def fail_network(what: str, exc: BaseException) -> ThinkError:
    """One line for a Hub that cannot be reached, naming the cache."""
    return HubUnreachable(
        f"cannot reach {endpoint()} ({type(exc).__name__}) and {what} is not in the cache "
        f"({cache_dir()}); check the network or HF_ENDPOINT, then run the pull again"
    )


def cached_models() -> list[tuple[str, Path, Choice]]:
    """Every complete GGUF model in the cache: (USER/REPO, snapshot folder, model), one per quant."""
    root = cache_dir()
    out = []
    if not root.is_dir():
        return out
    for folder in sorted(root.glob("models--*--*")):
        repo = folder.name.removeprefix("models--").replace("--", "/", 1)
        seen = set()
        for snap in _snapshots(repo):
            for choice in group_models(_local_files(snap)):
                if _complete(choice) and choice.quant not in seen:
                    seen.add(choice.quant)
                    out.append((repo, snap, choice))
    return out
