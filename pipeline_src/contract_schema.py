"""The schema of pipeline_src/contract.json: pydantic models, strict, closed and frozen.

pipeline_src.contract validates the file with these models wherever pydantic is installed (synth,
the CodeBuild jobs, local runs, tests). The SageMaker scikit-learn containers have no pydantic:
they read the file synth already validated, shipped unchanged in the source zip and the model.
`python -m infra.config_schema --write` regenerates pipeline_src/contract.schema.json and the
README's contract tables from these models (`--check`: exit 1 when stale; tests do this).
"""
from __future__ import annotations

import math
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import field_validator, model_validator

# A column name is a CSV header cell and a JSON key as written: no separators, quotes or spaces.
COLUMN_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
# A category is compared as written, after the spaces a CSV cell may carry around it; empty is
# missing. So: no surrounding spaces, no line breaks.
CATEGORY = r"^[^\s](?:[^\r\n]{0,126}[^\s])?$"
# HistGradientBoosting's native categorical support takes codes 0..254 (max_bins <= 255).
MAX_CATEGORIES = 255

Number = Union[StrictInt, StrictFloat]
Category = Annotated[StrictStr, Field(pattern=CATEGORY)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Label(_Strict):
    """The label column and the two values it holds (compared as written in the CSV)."""

    name: StrictStr = Field(pattern=COLUMN_NAME, description="label column name")
    positive: Union[StrictInt, Category] = Field(
        description="the value of the positive class (fraud); the model scores its probability")
    negative: Union[StrictInt, Category] = Field(description="the value of the negative class")

    @model_validator(mode="after")
    def _distinct(self):
        if str(self.positive) == str(self.negative):
            raise ValueError(f"positive and negative are both {self.positive!r}")
        return self


class _Column(_Strict):
    """What every feature declares."""

    name: StrictStr = Field(pattern=COLUMN_NAME, description="column name")
    nullable: StrictBool = Field(False, description="missing values allowed (empty CSV cell, "
                                                    "JSON null)")
    description: StrictStr = Field("", description="what the column means")


class NumericFeature(_Column):
    """A number: integer-valued or any float, within a closed range."""

    kind: Literal["numeric"]
    dtype: Literal["int", "float"] = Field(description="int: whole numbers only")
    min: Number = Field(description="smallest allowed value")
    max: Number = Field(description="largest allowed value")
    example: Number = Field(description="a typical value (the deploy smoke test's rows)")

    @model_validator(mode="after")
    def _consistent(self):
        for key in ("min", "max", "example"):
            value = getattr(self, key)
            if not math.isfinite(value):
                raise ValueError(f"{key} {value!r} is not finite")
            if self.dtype == "int" and value != int(value):
                raise ValueError(f"{key} {value!r} is not a whole number (dtype int)")
        if self.min > self.max:
            raise ValueError(f"min {self.min!r} is greater than max {self.max!r}")
        if not self.min <= self.example <= self.max:
            raise ValueError(f"example {self.example!r} is outside [{self.min!r}, {self.max!r}]")
        return self


class CategoricalFeature(_Column):
    """One of a declared list of values; the position in the list is the value's code."""

    kind: Literal["categorical"]
    values: list[Category] = Field(
        min_length=1, max_length=MAX_CATEGORIES,
        description="the declared values, in code order (a value's code is its position; keep "
                    "the order when adding values, append new ones)")
    unseen: Literal["reject", "missing"] = Field(
        "reject", description="a value not in `values`: reject (a 400 in serving, exit 2 in "
                              "training) or missing (an open vocabulary: scored as a missing "
                              "value)")
    example: Category = Field(description="a typical value, one of `values`")

    @model_validator(mode="after")
    def _consistent(self):
        repeated = sorted({v for v in self.values if self.values.count(v) > 1})
        if repeated:
            raise ValueError(f"values repeated: {', '.join(map(repr, repeated))}")
        if self.example not in self.values:
            raise ValueError(f"example {self.example!r} is not one of the values")
        return self


Feature = Annotated[Union[NumericFeature, CategoricalFeature], Field(discriminator="kind")]


class ContractFile(_Strict):
    """pipeline_src/contract.json: the label and the features in request column order."""

    schema_: Optional[StrictStr] = Field(None, alias="$schema",
                                         description="JSON Schema for editors")
    label: Label
    features: list[Feature] = Field(
        min_length=1, description="the model's input columns, in the order text/csv requests "
                                  "carry them")

    @field_validator("features")
    @classmethod
    def _unique(cls, features):
        names = [f.name for f in features]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"feature names repeated: {', '.join(repeated)}")
        return features

    @model_validator(mode="after")
    def _label_apart(self):
        names = [f.name for f in self.features]
        if self.label.name in names:
            raise ValueError(f"label {self.label.name!r} is also a feature")
        return self


def validate(data, source: str) -> None:
    """Raise ValueError "<source>: <path>: <problem>" (one line) unless data is a valid contract."""
    from pydantic import ValidationError

    try:
        ContractFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"] if p not in ("numeric", "categorical"))
        message = error["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ValueError(f"{source}: {where or 'top level'}: {message}{more}") from None
