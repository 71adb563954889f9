"""Reader for the bAbI v1.2 question-answering tasks (Weston et al., 2015).

The tarball holds ``tasks_1-20_v1-2/{en,en-10k}/qa<N>_<name>_{train,test}.txt``:
lines ``<id> <sentence>`` or ``<id> <question>\\t<answer>\\t<supporting ids>``;
id 1 starts a story.  A question is asked of every statement so far in its
story (as Keras' ``babi_memnn`` does), or of its supporting facts alone.
Tokens are words and punctuation, case kept; an answer is one token even when
it is a list (``"apple,football"``, tasks 8 and 19), so every task is one-label
classification.  A sample keeps its story flat (``story``, the Keras model's
input) and as ``sentences`` (the memory network's memories).
"""
from __future__ import annotations

import dataclasses
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from ..codecs.babi import detokenize, tokenize
from ..util.errors import UserError
from .files import ARCHIVE_ERRORS, unreadable
from .vocab import ranked_tokens

ROOT = "tasks_1-20_v1-2"
SETS = ("en", "en-10k")
TASK_NAMES: Dict[int, str] = {
    1: "single-supporting-fact", 2: "two-supporting-facts", 3: "three-supporting-facts",
    4: "two-arg-relations", 5: "three-arg-relations", 6: "yes-no-questions", 7: "counting",
    8: "lists-sets", 9: "simple-negation", 10: "indefinite-knowledge",
    11: "basic-coreference", 12: "conjunction", 13: "compound-coreference",
    14: "time-reasoning", 15: "basic-deduction", 16: "basic-induction",
    17: "positional-reasoning", 18: "size-reasoning", 19: "path-finding",
    20: "agents-motivations",
}


@dataclass
class Sample:
    """One question about a story: token lists and the one-token answer."""
    story: List[str]
    question: List[str]
    answer: str
    supporting: Tuple[int, ...] = ()
    sentences: Tuple[Tuple[str, ...], ...] = ()  # the story, one token tuple per statement


def parse_stories(lines: Iterable[str], only_supporting: bool = False) -> List[Sample]:
    """Samples from the lines of one bAbI file, in file order."""
    samples: List[Sample] = []
    story: Dict[int, List[str]] = {}  # line id -> tokens of the statements seen so far
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        if not head.isdigit():
            raise ValueError(f"line {number} does not start with a line id: {line!r}")
        line_id = int(head)
        if line_id == 1:
            story = {}
        if "\t" in rest:
            fields = rest.split("\t")
            if len(fields) < 2:
                raise ValueError(f"line {number}: a question needs a TAB and an answer")
            support = tuple(int(i) for i in fields[2].split()) if len(fields) > 2 else ()
            if only_supporting:
                missing = [i for i in support if i not in story]
                if missing:
                    raise ValueError(f"line {number}: supporting fact(s) {missing} are not "
                                     "statements of this story")
                chosen = [story[i] for i in support]
            else:
                chosen = [story[i] for i in sorted(story)]
            samples.append(Sample([t for s in chosen for t in s], tokenize(fields[0]),
                                  fields[1].strip(), support, tuple(map(tuple, chosen))))
        else:
            story[line_id] = tokenize(rest)
    return samples


def member_name(task: int, subset: str, split: str) -> str:
    """Member path inside the tarball, e.g. ``tasks_1-20_v1-2/en-10k/qa1_single-supporting-fact_train.txt``."""
    if task not in TASK_NAMES:
        raise UserError(f"bAbI task {task} does not exist; choose 1..20.")
    if subset not in SETS:
        raise UserError(f"bAbI set {subset!r} does not exist; choose one of {', '.join(SETS)}.")
    return f"{ROOT}/{subset}/qa{task}_{TASK_NAMES[task]}_{split}.txt"


def load_split(tarball: Path, task: int, subset: str, split: str,
               only_supporting: bool = False) -> List[Sample]:
    """Samples of one member of the tarball; a missing member is a UserError naming it."""
    name = member_name(task, subset, split)
    try:
        with tarfile.open(tarball, "r:*") as archive:
            try:
                handle = archive.extractfile(name)
            except KeyError:
                handle = None
            if handle is None:
                raise UserError(f"{tarball} has no member {name}; pick another --task or --set, "
                                "or use a complete copy of the tarball.")
            text = handle.read().decode("utf-8")
    except ARCHIVE_ERRORS as err:
        raise unreadable(tarball, "bAbI tarball", err) from None
    try:
        return parse_stories(text.splitlines(), only_supporting)
    except ValueError as err:
        raise UserError(f"{tarball}:{name} is not a bAbI file ({err}).") from None


def build_vocab(samples: Sequence[Sample]) -> List[str]:
    """Sorted tokens of stories, questions and answers (ids 1..V in the codec; 0 pads).
    Every word counts once, so gluonnlp's frequency order is ``str`` order."""
    words = set()
    for sample in samples:
        words.update(sample.story)
        words.update(sample.question)
        words.add(sample.answer)
    return ranked_tokens(Counter(words))  # a set: every count is 1


def max_lengths(samples: Sequence[Sample]) -> Tuple[int, int]:
    """(story_maxlen, query_maxlen) over ``samples``."""
    return (max(len(s.story) for s in samples), max(len(s.question) for s in samples))


def lowercased(samples: Sequence[Sample]) -> List[Sample]:
    """The samples with every token in lower case (the memory network's reading)."""
    lower = lambda tokens: [t.lower() for t in tokens]  # noqa: E731
    return [dataclasses.replace(s, story=lower(s.story), question=lower(s.question),
                                answer=s.answer.lower(),
                                sentences=tuple(tuple(lower(t)) for t in s.sentences))
            for s in samples]


def memory_shape(samples: Sequence[Sample]) -> Tuple[int, int]:
    """(most statements in a story, most tokens in a statement or a question) over ``samples``."""
    sentences = max(len(s.sentences) for s in samples)
    words = max(max((len(t) for t in s.sentences), default=0) for s in samples)
    return sentences, max(words, max(len(s.question) for s in samples))


def insert_blank_memories(stories: np.ndarray, fraction: float,
                          rng: np.random.RandomState) -> np.ndarray:
    """Random-noise time padding (Sukhbaatar et al., 2015): a copy of ``stories``
    (N, M, J) ids, memories left-padded (newest last), with ``randint(ceil(n *
    fraction))`` empty memories among each story's n real ones, as the reference
    code does, but only in free slots, so no real memory is pushed out."""
    out = np.zeros_like(stories)
    slots = stories.shape[1]
    for row, story in enumerate(stories):
        real = np.flatnonzero(story.any(axis=1))  # (n,) slots holding a statement
        high = int(np.ceil(len(real) * fraction))
        blanks = min(rng.randint(high) if high > 0 else 0, slots - len(real))
        # The n memories' time indices: a sorted random n-subset of 0..n+blanks-1 (0 = newest).
        times = np.sort(rng.permutation(len(real) + blanks)[:len(real)])[::-1]
        out[row, slots - 1 - times] = story[real]
    return out


def sample_text(sample: Sample) -> Dict[str, str]:
    """A sample as the user-level ``{"story", "question"}`` dict ``predict`` takes."""
    return {"story": detokenize(sample.story), "question": detokenize(sample.question)}
