"""util/settings.py: the checks every run setting, task option and request field declares."""
import dataclasses
import math

import pytest

from gluon_seq.util import settings
from gluon_seq.util.errors import UserError


@dataclasses.dataclass
class _Options:
    epochs: int = dataclasses.field(default=1, metadata={"check": settings.whole(1)})
    qa: int = dataclasses.field(default=1, metadata={"check": settings.whole(1, 20),
                                                     "flag": "--task"})
    pooling: str = dataclasses.field(default="last", metadata={"choices": ["last", "max"]})
    clip: float = dataclasses.field(default=None, metadata={
        "check": settings.optional(settings.positive())})
    free: str = "anything"  # no check declared


def test_a_flag_is_the_field_name_unless_the_field_names_its_own():
    fields = {f.name: f for f in dataclasses.fields(_Options)}
    assert settings.flag_of(fields["epochs"]) == "--epochs"
    assert settings.flag_of(fields["qa"]) == "--task"
    assert settings.flag_of("batch_size") == "--batch-size"


@pytest.mark.parametrize("values,message", [
    ({"epochs": 0}, "--epochs 0 is not allowed: it must be a whole number of at least 1."),
    ({"qa": 21}, "--task 21 is not allowed: it must be a whole number from 1 to 20."),
    ({"pooling": "mean"}, "--pooling 'mean' is not allowed: it must be one of last, max."),
    ({"clip": -1.0}, "--clip -1.0 is not allowed: it must be a finite number above 0, or not given."),
])
def test_validate_names_the_flag_the_value_and_what_is_allowed(values, message):
    with pytest.raises(UserError) as info:
        settings.validate(_Options(**values))
    assert str(info.value) == message
    settings.validate(_Options(clip=None, free=object()))  # unchecked fields pass


@pytest.mark.parametrize("check,good,bad", [
    (settings.whole(1, 3), [1, 3], [0, 4, 1.0, True, "2", None]),
    (settings.number(0, 1, low_open=True), [1, 0.5, 1e-9], [0, -1, math.nan, math.inf, "0.5"]),
    (settings.fraction(), [0.1, 0.9], [0, 1]),
    (settings.dropout_rate(), [0, 0.99], [1, -0.1]),
    (settings.seed(), [0, 2 ** 32 - 1], [-1, 2 ** 32]),
    (settings.flag(), [True, False], [0, 1, "yes"]),
])
def test_each_check_takes_exactly_its_values(check, good, bad):
    assert all(check.test(v) for v in good)
    assert not any(check.test(v) for v in bad)


def test_a_generation_request_checks_its_seed_with_the_run_seed_rule():
    from gluon_seq.codecs.words import WordCodec

    codec = WordCodec(["<eos>", "<unk>", "the"])
    assert codec.request({"prompt": "the", "seed": 2 ** 32 - 1})["seed"] == 2 ** 32 - 1
    with pytest.raises(UserError, match=r"seed must be a whole number from 0 to 4294967295"):
        codec.request({"prompt": "the", "seed": 2 ** 32})
    with pytest.raises(UserError, match=r"temperature must be 0 \(greedy\) or"):
        codec.request({"prompt": "the", "temperature": 0.0001})
