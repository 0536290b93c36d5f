"""Every numeric hyperparameter and training setting has a documented upper bound, and a
value past it is refused naming the field (the API turns that into a 422)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from app.schemas.updaters import PARAMS_BY_UPDATER, TrainingConfig, validate_updater


def numeric_fields(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """JSON-schema properties of the int/float fields (optional ones included)."""
    out = {}
    for name, prop in model.model_json_schema()["properties"].items():
        options = prop.get("anyOf", [prop])
        numeric = [o for o in options if o.get("type") in ("integer", "number")]
        if numeric:
            out[name] = {**prop, **numeric[0]}
    return out


MODELS = [(name, model) for name, model in PARAMS_BY_UPDATER.items()] + [
    ("training", TrainingConfig)
]


@pytest.mark.parametrize(("owner", "model"), MODELS)
def test_every_numeric_field_has_an_upper_bound_and_a_description(
    owner: str, model: type[BaseModel]
) -> None:
    # when
    fields = numeric_fields(model)

    # then
    for name, prop in fields.items():
        assert "maximum" in prop or "exclusiveMaximum" in prop, f"{owner}.{name}"
        assert prop.get("description"), f"{owner}.{name}"


@pytest.mark.parametrize(
    ("updater", "field"),
    [(name, field) for name, model in PARAMS_BY_UPDATER.items() for field in numeric_fields(model)],
)
def test_a_value_above_the_bound_is_refused_naming_the_field(updater: str, field: str) -> None:
    # given: one past the bound (a bound of 1 for a fraction: twice it)
    prop = numeric_fields(PARAMS_BY_UPDATER[updater])[field]
    bound = prop.get("maximum", prop.get("exclusiveMaximum"))
    too_big = bound * 2 if isinstance(bound, float) else bound + 1

    # when
    with pytest.raises(ValidationError) as caught:
        validate_updater({"name": updater, "params": {field: too_big}})

    # then
    assert caught.value.errors()[0]["loc"] == ("params", field)


@pytest.mark.parametrize("field", list(numeric_fields(TrainingConfig)))
def test_a_training_setting_above_its_bound_is_refused_naming_it(field: str) -> None:
    # given
    prop = numeric_fields(TrainingConfig)[field]
    bound = prop.get("maximum", prop.get("exclusiveMaximum"))
    too_big = bound * 2 if isinstance(bound, float) else bound + 1

    # when
    with pytest.raises(ValidationError) as caught:
        TrainingConfig.model_validate({field: too_big})

    # then
    assert caught.value.errors()[0]["loc"] == (field,)


def test_the_issues_hostile_values_are_refused() -> None:
    # when / then: memory_size 1e15 and weight_decay 1e308 (issue 10), eval_batch_size huge
    with pytest.raises(ValidationError, match="memory_size"):
        validate_updater({"name": "er", "params": {"memory_size": 10**15}})
    with pytest.raises(ValidationError, match="weight_decay"):
        TrainingConfig(weight_decay=1e308)
    with pytest.raises(ValidationError, match="eval_batch_size"):
        TrainingConfig(eval_batch_size=10**9)
