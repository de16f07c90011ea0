"""The one converter (STYLE §4, §12): every domain object survives unstructure -> JSON ->
structure unchanged, and untrusted documents fail with field paths, never echoing values."""

from __future__ import annotations

import json
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from xavyo_connectors_core import model, testing
from xavyo_connectors_core.converter import converter, structure_input
from xavyo_connectors_core.errors import FieldError, InvalidInput

STRATEGIES: dict[Any, SearchStrategy[Any]] = {
    model.Tenant: testing.tenants(),
    model.Principal: testing.principals(),
    model.ApiToken: testing.api_tokens(),
    model.SealedSecret: testing.sealed_secrets(),
    model.Mapping: testing.mappings(),
    model.CorrelationRule: testing.correlation_rules(),
    model.ScopeCondition: testing.scope_conditions(),
    model.TestResult: testing.test_results(),
    model.Connector: testing.connectors(),
    model.Attribute: testing.schema_attributes(),
    model.ObjectClass: testing.object_classes(),
    model.Schema: testing.schemas(),
    model.AttributeDiff: testing.attribute_diffs(),
    model.SchemaDiff: testing.schema_diffs(),
    model.SchemaVersion: testing.schema_versions(),
    model.Shadow: testing.shadows(),
    model.Identity: testing.identities(),
    model.Progress: testing.progresses(),
    model.ActionCounts: testing.action_counts(),
    model.Run: testing.runs(),
    model.Difference: testing.differences(),
    model.Discrepancy: testing.discrepancies(),
    model.AttributeDelta: testing.attribute_deltas(),
    model.Operation: testing.operations(),
    model.ConnectorHealth: testing.connector_healths(),
    model.SyncToken: testing.sync_tokens(),
    model.Page[model.Identity]: testing.pages(testing.identities(), max_size=3),
    model.Page[model.Operation]: testing.pages(testing.operations(), max_size=3),
    FieldError: testing.field_errors(),
}
"""A strategy per domain class (``Page`` in two instantiations), from the public helpers."""

CLASSES = list(STRATEGIES)
PLAIN_CLASSES = [cls for cls in CLASSES if attrs.has(cls)]
"""The classes themselves (not ``Page[X]`` aliases), for per-field checks."""

per_class = settings(max_examples=25, deadline=None)
"""The round trip is checked class by class; big classes make examples costly."""
across_classes = settings(max_examples=60, deadline=None)
"""The other properties draw a class, then an object of it."""


def class_id(cls: Any) -> str:
    origin = typing.get_origin(cls)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(a.__name__ for a in typing.get_args(cls))}]"
    return str(cls.__name__)


def objects(classes: list[Any]) -> SearchStrategy[tuple[Any, Any]]:
    """A class among ``classes`` and an object of it."""
    return st.sampled_from(classes).flatmap(lambda c: st.tuples(st.just(c), STRATEGIES[c]))


def model_classes() -> set[type]:
    return {
        value
        for value in vars(model).values()
        if isinstance(value, type) and attrs.has(value) and value.__module__ == model.__name__
    }


def through_json(obj: Any, cls: Any) -> Any:
    """What the outside world sees: unstructured, then strict JSON text, then parsed."""
    return json.loads(json.dumps(converter.unstructure(obj, cls), allow_nan=False))


class TestCoverage:
    def test_every_model_class_has_a_strategy(self) -> None:
        """A new class in model.py cannot escape the round-trip properties."""
        covered = {getattr(cls, "__origin__", cls) for cls in CLASSES}
        assert model_classes() <= covered

    @across_classes
    @given(objects(PLAIN_CLASSES))
    def test_every_domain_object_is_immutable(self, drawn: tuple[Any, Any]) -> None:
        """Domain objects are frozen: change them with ``attrs.evolve``."""
        cls, obj = drawn
        name = attrs.fields(cls)[0].name
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(obj, name, getattr(obj, name))


class TestRoundTrip:
    @per_class
    @pytest.mark.parametrize("cls", CLASSES, ids=class_id)
    @given(data=st.data())
    def test_json_round_trip_is_identity(self, cls: Any, data: st.DataObject) -> None:
        """unstructure -> json.dumps -> json.loads -> structure gives the object back."""
        obj = data.draw(STRATEGIES[cls])
        assert converter.structure(through_json(obj, cls), cls) == obj

    @across_classes
    @given(objects(CLASSES))
    def test_unstructured_documents_are_json_ready(self, drawn: tuple[Any, Any]) -> None:
        """The unstructured form is plain JSON already: parsing its text changes nothing."""
        cls, obj = drawn
        doc = converter.unstructure(obj, cls)
        assert through_json(doc, Any) == doc

    @across_classes
    @given(objects(CLASSES))
    def test_structure_input_accepts_what_the_converter_writes(
        self, drawn: tuple[Any, Any]
    ) -> None:
        """The untrusted-input path reads every document the converter writes."""
        cls, obj = drawn
        assert structure_input(through_json(obj, cls), cls) == obj

    @given(testing.utc_datetimes())
    def test_datetimes_are_rfc3339_utc_with_z(self, moment: Any) -> None:
        """Timestamps are written in UTC with ``Z``."""
        text = converter.unstructure(moment)
        assert text.endswith("Z")
        assert converter.structure(text, type(moment)) == moment

    @given(st.lists(st.sampled_from(["lower", "trim", "first"]), min_size=1, max_size=3))
    def test_a_transform_is_one_name_or_a_list(self, chain: list[str]) -> None:
        """One step is written as its name, several as a list; both read back."""
        rule = model.CorrelationRule(identity="email", account="mail", transform=tuple(chain))
        doc = converter.unstructure(rule)
        assert doc["transform"] == (chain[0] if len(chain) == 1 else chain)
        assert converter.structure(doc, model.CorrelationRule) == rule

    @pytest.mark.parametrize("cls", [model.Mapping, model.CorrelationRule], ids=class_id)
    def test_an_empty_transform_chain_round_trips(self, cls: Any) -> None:
        """A rule built with an empty transform chain reads back equal."""
        rule = cls(identity="email", account="mail", transform=())
        assert converter.structure(through_json(rule, cls), cls) == rule


def required_fields(cls: Any) -> list[str]:
    return [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING]


def marker() -> SearchStrategy[str]:
    return st.text("abcdefgh", min_size=6, max_size=12).map(lambda t: f"\u2603{t}\u2603")


class TestUntrustedInput:
    @across_classes
    @given(objects(PLAIN_CLASSES), st.from_regex(r"zz_[a-z]{1,8}", fullmatch=True))
    def test_unknown_fields_are_rejected_by_path(self, drawn: tuple[Any, Any], extra: str) -> None:
        """A field the class does not have is an error naming that field."""
        cls, obj = drawn
        doc = through_json(obj, cls)
        doc[extra] = 1
        with pytest.raises(InvalidInput) as caught:
            structure_input(doc, cls)
        assert FieldError(extra, "is not a known field") in caught.value.errors

    @across_classes
    @given(objects([c for c in PLAIN_CLASSES if required_fields(c)]), st.data())
    def test_missing_required_fields_are_reported(
        self, drawn: tuple[Any, Any], data: st.DataObject
    ) -> None:
        """Leaving out a field without a default is an error naming that field."""
        cls, obj = drawn
        required = required_fields(cls)
        doc = through_json(obj, cls)
        name = data.draw(st.sampled_from(required))
        del doc[name]
        with pytest.raises(InvalidInput) as caught:
            structure_input(doc, cls)
        assert FieldError(name, "is required") in caught.value.errors

    @across_classes
    @given(objects(PLAIN_CLASSES), st.data(), marker())
    def test_errors_never_echo_the_input(
        self, drawn: tuple[Any, Any], data: st.DataObject, bad: str
    ) -> None:
        """Whatever field gets a wrong value, the errors never repeat that value."""
        cls, obj = drawn
        doc = through_json(obj, cls)
        name = data.draw(st.sampled_from([f.name for f in attrs.fields(cls)]))
        doc[name] = bad
        try:
            structure_input(doc, cls)
        except InvalidInput as exc:
            assert exc.errors
            for error in exc.errors:
                assert "\u2603" not in error.path
                assert "\u2603" not in error.message
            assert "\u2603" not in str(exc)

    @pytest.mark.parametrize("document", [None, [], "connector", 1])
    def test_a_document_must_be_an_object(self, document: Any) -> None:
        """Anything but a JSON object is one error at ``$``."""
        with pytest.raises(InvalidInput) as caught:
            structure_input(document, model.Mapping)
        assert list(caught.value.errors) == [FieldError("$", "must be a JSON object")]

    def test_nested_errors_carry_their_path(self) -> None:
        """An error deep in a document names its place, e.g. ``attributes[1].type``."""
        bad = {
            "name": "c",
            "uid_attribute": "id",
            "name_attribute": "id",
            "attributes": [{"name": "a"}, {"name": "b", "type": "colour", "extra": 1}],
        }
        with pytest.raises(InvalidInput) as caught:
            structure_input(bad, model.ObjectClass)
        paths = {e.path for e in caught.value.errors}
        assert paths == {"attributes[1].type", "attributes[1].extra"}
