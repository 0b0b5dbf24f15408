"""Generate: the answer writers behind ``QA`` - the extractive composer or a chat model.

A ``Generator`` turns a question and what retrieval found (``rag.types.Retrieval``) into
checked ``Answer`` snapshots; whatever writes the sentences, they go through the one answer
builder (``rag.answer.AnswerBuilder``: checking, numbering, merging, abstaining). Two kinds:

- ``ExtractiveGenerator`` (the default): sentences quoted verbatim from the passages, picked
  by ``rag.compose.ExtractiveComposer`` (no language model);
- ``ChatGenerator``: any LangChain chat model (``BaseChatModel``). The prompt
  (``rag.prompts.ANSWER_SYSTEM`` / ``ANSWER_USER``) gives the passages as ``[1]``..``[k]`` and
  asks for a short answer citing them, or ``rag.prompts.LM_ABSTAIN_PHRASE``. The streamed
  draft is verified sentence by sentence by ``rag.draft.stream_answer`` (wrong citations
  re-pointed, unsupported sentences dropped), so ``ChatGenerator.answer`` only ever yields
  verified ``Answer`` snapshots.

``make_generator`` builds one by name: ``extractive``; ``openai`` (``langchain-openai``
``ChatOpenAI``: OpenAI or any server speaking its chat-completions protocol - vLLM,
llama.cpp server, LM Studio); ``ollama`` (``langchain-ollama`` ``ChatOllama``); ``llamacpp``
(a local GGUF file through ``llama-cpp-python`` and ``langchain-community``'s
``ChatLlamaCpp``). Their packages are optional extras, imported only when asked for; a
missing one raises ``MissingDependencyError`` naming the ``pip install``, an unreachable
server ``GeneratorError`` naming the address.

It leaves out: reading the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``OLLAMA_HOST`` are read at the edge by ``Settings.from_env`` / the CLI and passed in as
``api_key`` / ``base_url``), retrieval, and verification itself (``rag.answer``).

>>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
>>> from rag.types import Passage, Retrieval
>>> from rag.verify import SupportScorer
>>> p = Passage("c1", "a.md", "A", "Moscow keeps a naval base in Tartus.", 1.0, 0, 36)
>>> fake = FakeListChatModel(responses=["Moscow keeps a naval base in Tartus [1]. "
...                                     "It has ten warships there [1]."])
>>> gen = make_generator("openai", None, chat_model=fake)
>>> final = list(gen.answer("Where?", Retrieval("Where?", [p]), SupportScorer()))[-1]
>>> final.text, [d.sentence for d in final.dropped]
('Moscow keeps a naval base in Tartus. [1]', ['It has ten warships there.'])
>>> make_generator("extractive", None).extractive
True
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from . import prompts
from .answer import AnswerBuilder, Claim
from .compose import Composition, ExtractiveComposer, StoredVectors
from .draft import stream_answer
from .embed_base import Embedder
from .errors import GeneratorError, MissingDependencyError, RagError, causes
from .settings import GENERATORS
from .types import Answer, Passage, Retrieval
from .verify import Checker

log = logging.getLogger(__name__)

__all__ = [
    "ChatGenerator",
    "ExtractiveGenerator",
    "Generator",
    "build_messages",
    "format_passages",
    "generator_from_settings",
    "make_generator",
]

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "ollama": "llama3.2"}
DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "ollama": "http://127.0.0.1:11434"}
MAX_TOKENS = 400  # a 2-5 sentence answer with markers fits easily
COMPOSE_EXTRA = 3  # passages beyond top_k that the extractive composer may quote from
EXTRAS = {
    "openai": ("langchain_openai", "openai"),
    "ollama": ("langchain_ollama", "ollama"),
    "llamacpp": ("langchain_community", "llamacpp"),
}


def format_passages(passages: Sequence[Passage]) -> str:
    """The passages numbered from 1, as the prompt shows them.

    >>> print(format_passages([Passage("c", "a.md", "Title", "Text.", 1.0)]))
    [1] Title
    Text.
    """
    return "\n\n".join(
        prompts.PASSAGE_TEMPLATE.format(n=i, title=p.title or p.doc_id, text=p.text.strip())
        for i, p in enumerate(passages, 1)
    )


def build_messages(question: str, passages: Sequence[Passage]) -> list[BaseMessage]:
    """System + user messages asking for a cited answer to ``question`` from ``passages``."""
    user = prompts.ANSWER_USER.format(passages=format_passages(passages), question=question)
    return [SystemMessage(prompts.ANSWER_SYSTEM), HumanMessage(user)]


@runtime_checkable
class ChatModel(Protocol):
    """What ``ChatGenerator`` needs of a chat model; every LangChain ``BaseChatModel`` has it."""

    def invoke(self, input: list[BaseMessage], /) -> BaseMessage: ...

    def stream(self, input: list[BaseMessage], /) -> Iterator[BaseMessage]: ...


class Composer(Protocol):
    """What ``ExtractiveGenerator`` needs of a composer (``rag.compose.ExtractiveComposer``):
    pick verbatim sentences of ``[*passages, *context]`` that answer ``question``."""

    def run(
        self,
        question: str,
        passages: Sequence[Passage],
        query_vector: np.ndarray | None = None,
        context: Sequence[Passage] = (),
        stored: StoredVectors | None = None,
    ) -> Composition: ...


class Generator(ABC):
    """Writes answers: ``answer`` turns a question and what retrieval found for it into
    growing, checked ``Answer`` snapshots (the last one final). Every generator hands its
    sentences to the one builder (``rag.answer.AnswerBuilder``), so numbering, merging,
    dropping and abstaining follow the same rules whatever wrote the sentences.

    ``extra_passages`` is how many passages beyond ``top_k`` the writer reads (``QA``
    retrieves ``top_k + extra_passages``); an answer shows the first ``top_k`` passages and
    any other it cites. ``extractive`` says whether it quotes the passages verbatim.
    """

    name: str = "generator"
    extractive: bool = False
    extra_passages: int = 0

    @abstractmethod
    def answer(
        self,
        question: str,
        retrieval: Retrieval,
        checker: Checker,
        *,
        top_k: int | None = None,
        max_sentences: int | None = None,
    ) -> Iterator[Answer]:
        """Checked ``Answer`` snapshots for ``question`` from ``retrieval``, one more sentence
        each; the last is final (with ``retrieval.timings`` and the writer's own)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ExtractiveGenerator(Generator):
    """The default: sentences quoted verbatim from the passages, picked by
    ``rag.compose.ExtractiveComposer`` (no language model), which reads ``COMPOSE_EXTRA``
    passages more than are shown and the sentence before each passage
    (``Retrieval.context``). A cited passage is always shown."""

    name = "extractive"
    extractive = True
    extra_passages = COMPOSE_EXTRA

    def __init__(self, composer: Composer | None = None, ranked: bool = False) -> None:
        """``ranked``: compose with the trained answer ranker (``rag.compose_ranked``,
        generator name ``ranked``; opt-in, see that module for why it is not the default)."""
        if ranked:
            self.name = "ranked"
        self.ranked = ranked
        self._composer = composer
        self._made_for: tuple[int, int | None] | None = None  # (embedder id, max_sentences)
        self._lock = threading.Lock()

    @property
    def composer(self) -> Composer | None:
        """The composer in use (None before the first answer, unless one was given)."""
        return self._composer

    def composer_for(
        self, embedder: Embedder | None, max_sentences: int | None = None,
        checker: Checker | None = None,
    ) -> Composer:
        """The composer for sentences compared with ``embedder``'s query vectors (made on
        first use; a composer given to the constructor is always used)."""
        key = (id(embedder), max_sentences)
        with self._lock:
            if self._composer is None or (self._made_for is not None and self._made_for != key):
                kwargs: dict[str, Any] = {} if max_sentences is None else {
                    "max_sentences": max_sentences}
                if self.ranked:
                    from .compose_ranked import RankedComposer

                    self._composer = RankedComposer(embedder, checker=checker, **kwargs)
                else:
                    self._composer = ExtractiveComposer(embedder, **kwargs)
                self._made_for = key
            return self._composer

    def answer(
        self,
        question: str,
        retrieval: Retrieval,
        checker: Checker,
        *,
        top_k: int | None = None,
        max_sentences: int | None = None,
    ) -> Iterator[Answer]:
        t0 = time.perf_counter()
        composer = self.composer_for(retrieval.embedder, max_sentences, checker)
        comp = composer.run(question, retrieval.passages, retrieval.query_vector,
                            retrieval.context, stored=retrieval.sentence_vectors)
        compose = time.perf_counter() - t0
        pool = [*retrieval.passages, *retrieval.context]  # Selected.passage indexes this
        k = top_k or len(retrieval.passages)
        cited = {s.passage for s in comp.sentences}
        shown = [i for i in range(len(pool)) if i < k or i in cited]
        number = {old: new + 1 for new, old in enumerate(shown)}
        builder = AnswerBuilder(
            question, [pool[i] for i in shown], checker,
            {**retrieval.timings, "compose": compose},
            abstained=comp.abstained, premise_conflict=comp.premise_conflict,
        )
        yield from builder.extend(
            Claim(s.text, (number[s.passage],), (s.start, s.end)) for s in comp.sentences
        )
        yield builder.final(reason=comp.reason)


class ChatGenerator(Generator):
    """A LangChain chat model as the answer writer.

    ``chat_model`` is a ready ``BaseChatModel`` or a no-argument function that builds one on
    first use (for models that are slow to load). ``stream=False`` asks for the whole answer
    at once (``invoke``); it is still verified sentence by sentence. ``endpoint`` is only
    used in error messages. ``serialize`` runs one request at a time (llama.cpp models are
    not thread-safe).
    """

    def __init__(
        self,
        chat_model: ChatModel | Callable[[], ChatModel],
        name: str = "chat",
        model: str | None = None,
        endpoint: str | None = None,
        stream: bool = True,
        serialize: bool = False,
    ) -> None:
        self.name = name
        self.model = model
        self.endpoint = endpoint
        self.stream = stream
        self._model: ChatModel | None = None
        self._factory: Callable[[], ChatModel] | None = None
        if isinstance(chat_model, ChatModel):
            self._model = chat_model
        else:
            self._factory = chat_model
        self._lock = threading.Lock()
        self._serial = threading.Lock() if serialize else None

    @property
    def chat_model(self) -> ChatModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    assert self._factory is not None
                    try:
                        self._model = self._factory()
                    except RagError:
                        raise
                    except Exception as exc:
                        raise GeneratorError(
                            f"could not load the {self.name} model {self.model!r}: {exc}"
                        ) from exc
        return self._model

    def answer(
        self,
        question: str,
        retrieval: Retrieval,
        checker: Checker,
        *,
        top_k: int | None = None,
        max_sentences: int | None = None,
    ) -> Iterator[Answer]:
        """The model's draft from the first ``top_k`` passages, checked sentence by sentence
        as it streams in (``rag.draft.stream_answer``)."""
        passages = retrieval.passages[:top_k] if top_k else list(retrieval.passages)
        chunks: Iterator[str] = self.draft(question, passages) if passages else iter(())
        yield from stream_answer(question, chunks, passages, checker, dict(retrieval.timings),
                                 max_sentences)

    def draft(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        """The model's raw answer, as text chunks (unverified: never shown to a user)."""
        messages = build_messages(question, passages)
        if self._serial is not None:
            with self._serial:
                yield from self._draft(messages)
        else:
            yield from self._draft(messages)

    def _draft(self, messages: list[BaseMessage]) -> Iterator[str]:
        try:
            if self.stream:
                for chunk in self.chat_model.stream(messages):
                    text = _text(chunk)
                    if text:
                        yield text
            else:
                yield _text(self.chat_model.invoke(messages))
        except RagError:
            raise
        except Exception as exc:
            raise explain_error(exc, self.name, self.endpoint, self.model) from exc


def _text(message: BaseMessage | str) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")
        )
    return str(content or "")


def explain_error(
    exc: BaseException, name: str, endpoint: str | None, model: str | None
) -> GeneratorError:
    """A ``GeneratorError`` saying what went wrong with a chat model call and what to do.

    >>> str(explain_error(ConnectionRefusedError(), "ollama", "http://127.0.0.1:1", "m"))[:60]
    'could not reach the ollama server at http://127.0.0.1:1: is '
    """
    chain = causes(exc)
    kinds = {type(x).__name__ for x in chain}
    status = next((getattr(x, "status_code", None) for x in chain
                   if getattr(x, "status_code", None)), None)
    where = endpoint or "its default address"
    if kinds & {"APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout",
                "ConnectionError", "ConnectionRefusedError", "ReadTimeout", "TimeoutException"}:
        hint = {"ollama": " (start it with `ollama serve`)"}.get(name, "")
        return GeneratorError(
            f"could not reach the {name} server at {where}: is the server running{hint}? "
            f"({type(exc).__name__}: {exc})"
        )
    if status in (401, 403) or "AuthenticationError" in kinds:
        return GeneratorError(
            f"the {name} server at {where} refused the API key; set OPENAI_API_KEY "
            f"(or pass api_key=) to a valid key ({exc})"
        )
    if status == 404 or "NotFoundError" in kinds:
        fix = f"`ollama pull {model}`" if name == "ollama" else "check the model name (--model)"
        return GeneratorError(f"model {model!r} not found at {where}: {fix} ({exc})")
    return GeneratorError(f"the {name} generator failed: {type(exc).__name__}: {exc}")


def _need(name: str, *modules: str) -> None:
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependencyError(
                f"the {name} generator needs the {module.split('.')[0]} package: "
                f"pip install 'rag[{EXTRAS[name][1]}]'"
            ) from exc


def make_generator(
    name: str,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    chat_model: Any = None,
    *,
    stream: bool = True,
    **options: Any,
) -> Generator:
    """The generator called ``name`` (one of ``rag.settings.GENERATORS``).

    ``model`` is the chat model name (``openai``, ``ollama``) or the GGUF file (``llamacpp``);
    ``base_url`` / ``api_key`` the server and its key (from ``OPENAI_BASE_URL`` /
    ``OPENAI_API_KEY`` / ``OLLAMA_HOST``, read by the caller). ``chat_model`` is a ready
    LangChain chat model to use instead of building one (tests and evals pass fakes).
    ``options`` go to the chat model's constructor (``max_retries=0``, ``n_ctx=8192``...).

    >>> make_generator("gpt", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rag.errors.RagError: unknown generator 'gpt'; choose one of extractive, ranked, openai, ...
    """
    key = (name or "extractive").strip().lower()
    if key not in GENERATORS:
        raise RagError(f"unknown generator {name!r}; choose one of {', '.join(GENERATORS)}")
    if key in ("extractive", "ranked"):
        if chat_model is not None:
            raise RagError("a chat_model needs an LM generator (openai, ollama, llamacpp)")
        return ExtractiveGenerator(ranked=key == "ranked")
    if chat_model is not None:
        return ChatGenerator(chat_model, key, model, base_url, stream=stream)
    if key == "openai":
        return _openai(model, base_url, api_key, stream, options)
    if key == "ollama":
        return _ollama(model, base_url, stream, options)
    return _llamacpp(model, stream, options)


def _openai(
    model: str | None, base_url: str | None, api_key: str | None, stream: bool, options: dict
) -> ChatGenerator:
    _need("openai", "langchain_openai")
    from langchain_openai import ChatOpenAI

    url = base_url or DEFAULT_URLS["openai"]
    if not api_key:
        if base_url is None:
            raise GeneratorError(
                "the openai generator needs an API key: set OPENAI_API_KEY (or pass api_key=); "
                "for a local OpenAI-compatible server set OPENAI_BASE_URL"
            )
        api_key = "unused"  # local servers (llama.cpp, vLLM) accept any key
    name = model or DEFAULT_MODELS["openai"]
    kwargs = {"temperature": 0.0, "max_tokens": MAX_TOKENS, "timeout": 120, "max_retries": 2,
              **options}
    from pydantic import SecretStr

    chat = ChatOpenAI(model=name, base_url=url, api_key=SecretStr(api_key), **kwargs)
    return ChatGenerator(chat, "openai", name, url, stream=stream)


def _ollama(
    model: str | None, base_url: str | None, stream: bool, options: dict
) -> ChatGenerator:
    _need("ollama", "langchain_ollama")
    from langchain_ollama import ChatOllama

    url = base_url or DEFAULT_URLS["ollama"]
    if "://" not in url:  # OLLAMA_HOST may be "host:port"
        url = "http://" + url
    name = model or DEFAULT_MODELS["ollama"]
    kwargs = {"temperature": 0.0, "num_predict": MAX_TOKENS, **options}
    chat = ChatOllama(model=name, base_url=url, **kwargs)
    return ChatGenerator(chat, "ollama", name, url, stream=stream)


def _llamacpp(model: str | None, stream: bool, options: dict) -> ChatGenerator:
    _need("llamacpp", "llama_cpp", "langchain_community.chat_models")
    if not model:
        raise RagError("the llamacpp generator needs a GGUF file: pass --model path/to/model.gguf")
    path = Path(model).expanduser()
    if not path.is_file():
        raise RagError(f"GGUF file not found: {path}; pass --model path/to/model.gguf")
    kwargs = {
        "n_ctx": 4096, "n_batch": 512, "n_threads": 1,
        "rope_freq_base": 0.0, "rope_freq_scale": 0.0,  # 0 = take them from the GGUF file
        "temperature": 0.0, "max_tokens": MAX_TOKENS, "verbose": False, **options,
    }

    def build() -> Any:
        from langchain_community.chat_models import ChatLlamaCpp

        return ChatLlamaCpp(model_path=str(path), **kwargs)

    return ChatGenerator(build, "llamacpp", str(path), f"file {path}", stream=stream,
                         serialize=True)


class GeneratorSettings(Protocol):
    """What ``generator_from_settings`` reads (``rag.settings.Settings`` has it all)."""

    @property
    def generator(self) -> str: ...

    @property
    def model(self) -> str | None: ...


def generator_from_settings(settings: GeneratorSettings, **overrides: Any) -> Generator:
    """``make_generator`` from ``settings.generator`` / ``settings.model`` and, when the
    settings carry them, ``base_url`` / ``api_key``; ``overrides`` win."""
    kwargs: dict[str, Any] = {
        "name": settings.generator,
        "model": settings.model,
        "base_url": getattr(settings, "base_url", None),
        "api_key": getattr(settings, "api_key", None),
    }
    kwargs.update(overrides)
    return make_generator(**kwargs)
