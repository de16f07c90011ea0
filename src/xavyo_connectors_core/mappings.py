"""Mappings, correlation, reactions and scope: validation and pure runtime helpers.

``validate_parts`` checks every point of SPEC §3.3 against the connector's account object
class and returns every problem at once, each with its path (``mappings[2].account``).
It is pure: the caller gets the schema (or raises ``SchemaUnavailable``) and turns a
non-empty result into ``InvalidInput``.

The rules, beyond the obvious ones (names exist, transforms and templates parse):

- **Writing.** An outbound (or ``both``) mapping may not write an attribute that is
  neither creatable nor updateable (system managed). An attribute that is creatable but
  not updateable (set once, e.g. an immutable employee number), or updateable but not
  creatable, may be mapped: provisioning writes it only in the operation that can.
- **Reading.** An inbound (or ``both``) mapping, and a correlation rule, may not read an
  attribute that is not readable.
- **Required.** On a target connector every attribute the schema marks ``required`` and
  ``creatable`` is covered by an outbound mapping. A required attribute that is not
  creatable (a system generated uid, a generated column) cannot be written and is not
  asked for.
- **Templates.** Only ``{name}`` placeholders naming identity attributes; a mapping has
  either ``identity`` or ``template``, never both and at least one; a template mapping is
  outbound only (a rendered value cannot be read back).
- **One value or several.** Identity attributes are free-form: whether one holds a list
  is known only at run time. So statically a single-valued account attribute is refused
  only when the transform chain surely makes several values (``split:SEP`` not followed by
  ``first`` or ``join:SEP``); at run time ``outbound_attributes`` unwraps a one-element
  list and refuses a longer one with a clear error. Inbound values go into free-form
  identity attributes, so a multivalued account attribute may feed any identity attribute.
- **Types.** Every transform must be able to read the type it gets (``int`` cannot read a
  boolean, ``bool`` a datetime...), reading in both directions of a ``both`` mapping.
  Outbound, the chain's result type must suit the account attribute: a string attribute
  takes anything; a reference attribute takes text; integer, boolean and datetime
  attributes take the value of an ``int``, ``bool`` or ``iso8601`` transform respectively
  (or an untransformed identity value, whose type is unknown until run time); a binary
  attribute takes only an untransformed identity value: no transform, no template.
- **Duplicates.** Two outbound mappings may not write the same account attribute, and two
  inbound mappings may not set the same identity attribute. Reading one account attribute
  into two identity attributes is fine.
- **Reactions** name a known situation that occurs for the role and a reaction SPEC §3.5
  allows for both. **Scope** and ``on_leave_scope`` belong to target connectors; a scope
  condition names an identity attribute, ``in`` takes a non-empty list of scalars,
  ``eq``/``ne`` a scalar, ``present``/``absent`` no value.
"""

from __future__ import annotations

import base64
import difflib
import enum
import hashlib
import json
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from attrs import frozen

from xavyo_connectors_core.converter import format_datetime
from xavyo_connectors_core.errors import FieldError
from xavyo_connectors_core.model import (
    ALLOWED_REACTIONS,
    IDENTITY_ATTRIBUTE_RE,
    Attribute,
    AttributeType,
    Connector,
    CorrelationRule,
    Direction,
    LeaveScope,
    Mapping,
    ObjectClass,
    Reaction,
    Role,
    ScopeCondition,
    ScopeOp,
    Situation,
)
from xavyo_connectors_core.transforms import (
    TemplateError,
    Transform,
    TransformError,
    apply_transforms,
    check_transforms,
    input_type_problems,
    parse_template,
    parse_transforms,
    produces_single_value,
    render_template,
    result_type,
    text_of,
)

__all__ = [
    "OutboundPlan",
    "OutboundValue",
    "attributes_hash",
    "correlation_key",
    "explain_outbound",
    "in_scope",
    "inbound_attributes",
    "outbound_attributes",
    "validate_connector_parts",
    "validate_parts",
]

E = TypeVar("E", bound=enum.Enum)

_IDENTITY_SYNTAX = "must be an identity attribute name matching [a-z][a-z0-9_]*"


# --------------------------------------------------------------------------- validation


def validate_parts(
    *,
    role: Role | str,
    object_class: ObjectClass,
    mappings: Sequence[Mapping],
    correlation: Sequence[CorrelationRule],
    reactions: AbcMapping[Any, Any],
    scope: Sequence[ScopeCondition] | None,
    on_leave_scope: LeaveScope | str | None = None,
) -> list[FieldError]:
    """Check mappings, correlation, reactions and scope against the account object class.

    Args:
        role: the connector's role; required-attribute coverage, reactions, scope and
            ``on_leave_scope`` depend on it.
        object_class: the account object class of the connector's schema.
        mappings, correlation, scope, on_leave_scope: the connector's parts.
        reactions: situation -> reaction, as enums or their string values.

    Returns:
        Every problem found (SPEC §3.3 and the module docstring), in document order; an
        empty list when all is valid.
    """
    checked_role = _member(Role, role) or Role.TARGET
    errors: list[FieldError] = []
    _check_mappings(checked_role, object_class, mappings, errors)
    _check_correlation(object_class, correlation, errors)
    _check_reactions(checked_role, reactions, errors)
    _check_scope(checked_role, scope, on_leave_scope, errors)
    return errors


def validate_connector_parts(connector: Connector, object_class: ObjectClass) -> list[FieldError]:
    """``validate_parts`` on a stored connector (e.g. to re-validate after schema drift)."""
    return validate_parts(
        role=connector.role,
        object_class=object_class,
        mappings=connector.mappings,
        correlation=connector.correlation,
        reactions=connector.reactions,
        scope=connector.scope,
        on_leave_scope=connector.on_leave_scope,
    )


def _member(cls: type[E], value: Any) -> E | None:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except (ValueError, TypeError):
        return None


def _allowed(cls: type[enum.Enum]) -> str:
    return ", ".join(str(m.value) for m in cls)


def _identity_ok(name: Any) -> bool:
    return isinstance(name, str) and IDENTITY_ATTRIBUTE_RE.fullmatch(name) is not None


def _account_attribute(
    path: str, name: Any, object_class: ObjectClass, errors: list[FieldError]
) -> Attribute | None:
    if not isinstance(name, str) or not name.strip():
        errors.append(FieldError(path, "must name an attribute of the account object class"))
        return None
    attribute = object_class.attribute(name)
    if attribute is None:
        message = f"{name!r} is not an attribute of {object_class.name!r}"
        by_folded = {a.name.casefold(): a.name for a in object_class.attributes}
        close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
        if close:
            message += f"; did you mean {by_folded[close[0]]!r}?"
        errors.append(FieldError(path, message))
    return attribute


def _compatible(produced: AttributeType | None, target: AttributeType) -> bool:
    if produced is None or target is AttributeType.STRING:
        return True
    if target is AttributeType.REFERENCE:
        return produced in (AttributeType.STRING, AttributeType.REFERENCE)
    return produced is target


_HINTS = {
    AttributeType.INTEGER: "; end the transform chain with int",
    AttributeType.BOOLEAN: "; end the transform chain with bool",
    AttributeType.DATETIME: "; end the transform chain with iso8601",
}


def _check_mappings(
    role: Role,
    object_class: ObjectClass,
    mappings: Sequence[Mapping],
    errors: list[FieldError],
) -> None:
    written: dict[str, int] = {}
    set_identity: dict[str, int] = {}
    for index, mapping in enumerate(mappings):
        _check_mapping(index, mapping, object_class, errors, written, set_identity)
    if role is Role.TARGET:
        covered = {
            m.account.casefold()
            for m in mappings
            if isinstance(m.account, str)
            and (direction := _member(Direction, m.direction)) is not None
            and direction.outbound
        }
        for attribute in object_class.attributes:
            needed = attribute.required and attribute.creatable
            if needed and attribute.name.casefold() not in covered:
                errors.append(
                    FieldError(
                        "mappings",
                        f"required attribute {attribute.name!r} of "
                        f"{object_class.name!r} is not covered by an outbound mapping",
                    )
                )


def _check_mapping(
    index: int,
    mapping: Mapping,
    object_class: ObjectClass,
    errors: list[FieldError],
    written: dict[str, int],
    set_identity: dict[str, int],
) -> None:
    path = f"mappings[{index}]"
    attribute = _account_attribute(f"{path}.account", mapping.account, object_class, errors)
    direction = _member(Direction, mapping.direction)
    if direction is None:
        errors.append(FieldError(f"{path}.direction", f"must be one of: {_allowed(Direction)}"))

    has_identity = mapping.identity is not None
    has_template = mapping.template is not None
    if has_identity and has_template:
        errors.append(
            FieldError(f"{path}.template", "a mapping has either identity or template, not both")
        )
    elif not has_identity and not has_template:
        errors.append(
            FieldError(f"{path}.identity", "a mapping needs an identity attribute or a template")
        )
    if has_identity and not _identity_ok(mapping.identity):
        errors.append(FieldError(f"{path}.identity", _IDENTITY_SYNTAX))
    template_ok = False
    if has_template:
        if direction is not None and direction is not Direction.OUTBOUND:
            errors.append(
                FieldError(
                    f"{path}.direction",
                    "a template mapping must be outbound: a rendered value cannot be read back",
                )
            )
        if not mapping.template:
            errors.append(FieldError(f"{path}.template", "must not be empty"))
        else:
            try:
                parse_template(mapping.template)
                template_ok = True
            except TemplateError as exc:
                errors.append(FieldError(f"{path}.template", exc.detail))

    transform_path = f"{path}.transform"
    transform_messages = check_transforms(mapping.transform)
    for message in transform_messages:
        errors.append(FieldError(transform_path, message))

    outbound = direction is not None and direction.outbound
    inbound = direction is not None and direction.inbound and not has_template

    # duplicates
    if outbound and isinstance(mapping.account, str) and mapping.account.strip():
        folded = mapping.account.casefold()
        if folded in written:
            errors.append(
                FieldError(
                    f"{path}.account",
                    f"is also written by mappings[{written[folded]}]; an account "
                    "attribute takes one outbound mapping",
                )
            )
        else:
            written[folded] = index
    if inbound and has_identity and _identity_ok(mapping.identity):
        assert mapping.identity is not None
        if mapping.identity in set_identity:
            errors.append(
                FieldError(
                    f"{path}.identity",
                    f"is also set by mappings[{set_identity[mapping.identity]}]; an identity "
                    "attribute takes one inbound mapping",
                )
            )
        else:
            set_identity[mapping.identity] = index

    if attribute is None:
        return
    name = attribute.name
    if outbound and not (attribute.creatable or attribute.updateable):
        errors.append(
            FieldError(
                f"{path}.account",
                f"{name!r} is neither creatable nor updateable (the system manages it), "
                "so it cannot be written; use direction inbound",
            )
        )
    if inbound and not attribute.readable:
        errors.append(
            FieldError(
                f"{path}.account",
                f"{name!r} is not readable, so it cannot be read; use direction outbound",
            )
        )

    chain = mapping.transform or ()
    if attribute.type is AttributeType.BINARY:
        if chain:
            errors.append(
                FieldError(
                    transform_path, f"{name!r} is binary: binary attributes take no transform"
                )
            )
        if has_template and outbound:
            errors.append(
                FieldError(f"{path}.template", f"{name!r} is binary: a template cannot feed it")
            )
        return
    if transform_messages:
        return  # the chain is broken; its types and multiplicity mean nothing yet

    problems: dict[str, None] = {}
    if outbound and (has_identity or template_ok):
        source = AttributeType.STRING if has_template else None
        problems.update(dict.fromkeys(input_type_problems(chain, source)))
        produced = result_type(chain, source)
        if not _compatible(produced, attribute.type):
            where = transform_path if chain else f"{path}.template"
            errors.append(
                FieldError(
                    where,
                    f"produces a {produced} value, but {name!r} is a {attribute.type} "
                    f"attribute{_HINTS.get(attribute.type, '')}",
                )
            )
        if not attribute.multivalued and not produces_single_value(chain, False):
            errors.append(
                FieldError(
                    transform_path,
                    f"makes several values, but {name!r} is single-valued; "
                    "add first or join:SEP after split",
                )
            )
    if inbound:
        problems.update(dict.fromkeys(input_type_problems(chain, attribute.type)))
    for problem in problems:
        errors.append(FieldError(transform_path, problem))


def _check_correlation(
    object_class: ObjectClass, correlation: Sequence[CorrelationRule], errors: list[FieldError]
) -> None:
    for index, rule in enumerate(correlation):
        path = f"correlation[{index}]"
        if not _identity_ok(rule.identity):
            errors.append(FieldError(f"{path}.identity", _IDENTITY_SYNTAX))
        attribute = _account_attribute(f"{path}.account", rule.account, object_class, errors)
        transform_path = f"{path}.transform"
        messages = check_transforms(rule.transform)
        for message in messages:
            errors.append(FieldError(transform_path, message))
        if attribute is None:
            continue
        if not attribute.readable:
            errors.append(
                FieldError(
                    f"{path}.account",
                    f"{attribute.name!r} is not readable, so it cannot be correlated on",
                )
            )
        chain = rule.transform or ()
        if attribute.type is AttributeType.BINARY and chain:
            errors.append(
                FieldError(
                    transform_path,
                    f"{attribute.name!r} is binary: it takes no transform",
                )
            )
        elif not messages:
            # the transform applies to both sides: the account value and the identity's
            problems = dict.fromkeys(input_type_problems(chain, attribute.type))
            problems.update(dict.fromkeys(input_type_problems(chain, None)))
            for problem in problems:
                errors.append(FieldError(transform_path, problem))


def _check_reactions(role: Role, reactions: AbcMapping[Any, Any], errors: list[FieldError]) -> None:
    for key, value in reactions.items():
        path = f"reactions.{key.value if isinstance(key, enum.Enum) else key}"
        situation = _member(Situation, key)
        if situation is None:
            errors.append(
                FieldError(path, f"is not a known situation; situations: {_allowed(Situation)}")
            )
            continue
        allowed = ALLOWED_REACTIONS.get((situation, role))
        if not allowed:
            errors.append(FieldError(path, f"{situation} does not occur on a {role} connector"))
            continue
        choices = ", ".join(r.value for r in allowed)
        reaction = _member(Reaction, value)
        if reaction is None:
            errors.append(
                FieldError(path, f"is not a known reaction; allowed for {situation}: {choices}")
            )
        elif reaction not in allowed:
            errors.append(
                FieldError(
                    path,
                    f"{reaction} is not allowed for {situation} on a {role} connector; "
                    f"allowed: {choices}",
                )
            )


def check_reactions_and_scope(
    role: Role,
    reactions: AbcMapping[Any, Any],
    scope: Sequence[ScopeCondition] | None,
    on_leave_scope: LeaveScope | str | None = None,
) -> list[FieldError]:
    """The checks of SPEC §3.3 that need no schema: reactions, scope, on_leave_scope."""
    errors: list[FieldError] = []
    _check_reactions(role, reactions, errors)
    _check_scope(role, scope, on_leave_scope, errors)
    return errors


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _check_scope(
    role: Role,
    scope: Sequence[ScopeCondition] | None,
    on_leave_scope: LeaveScope | str | None,
    errors: list[FieldError],
) -> None:
    if scope is not None:
        if role is Role.SOURCE:
            errors.append(
                FieldError("scope", "applies to target connectors only; use null on a source")
            )
        for index, condition in enumerate(scope):
            _check_condition(f"scope[{index}]", condition, errors)
    if on_leave_scope is not None:
        if _member(LeaveScope, on_leave_scope) is None:
            errors.append(FieldError("on_leave_scope", f"must be one of: {_allowed(LeaveScope)}"))
        elif role is Role.SOURCE:
            errors.append(
                FieldError(
                    "on_leave_scope", "applies to target connectors only; use null on a source"
                )
            )


def _check_condition(path: str, condition: ScopeCondition, errors: list[FieldError]) -> None:
    if not _identity_ok(condition.identity):
        errors.append(FieldError(f"{path}.identity", _IDENTITY_SYNTAX))
    op = _member(ScopeOp, condition.op)
    value = condition.value
    if op is None:
        errors.append(FieldError(f"{path}.op", f"must be one of: {_allowed(ScopeOp)}"))
    elif op is ScopeOp.IN:
        if not isinstance(value, list | tuple) or not value:
            errors.append(FieldError(f"{path}.value", "must be a non-empty list for op in"))
        elif not all(_is_scalar(v) for v in value):
            errors.append(
                FieldError(f"{path}.value", "must list strings, numbers or booleans for op in")
            )
    elif op in (ScopeOp.PRESENT, ScopeOp.ABSENT):
        if value is not None:
            errors.append(FieldError(f"{path}.value", f"must be absent for op {op}"))
    elif not _is_scalar(value):
        errors.append(
            FieldError(
                f"{path}.value",
                f"must be a string, number or boolean for op {op} "
                "(use present or absent to test for a missing value)",
            )
        )


# --------------------------------------------------------------------------- runtime


def _lookup(attributes: AbcMapping[str, Any], name: str) -> Any:
    if name in attributes:
        return attributes[name]
    folded = name.casefold()
    for key, value in attributes.items():
        if key.casefold() == folded:
            return value
    return None


def _json_value(value: Any) -> Any:
    """A JSON-friendly value: datetimes as RFC 3339, bytes as base64, tuples as lists."""
    if isinstance(value, datetime):
        return format_datetime(
            value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def inbound_attributes(
    mappings: Sequence[Mapping], account_attributes: AbcMapping[str, Any]
) -> dict[str, Any]:
    """The identity attributes an account yields through its inbound and ``both`` mappings.

    Account attribute names are matched case-insensitively. An attribute the account
    lacks reads as ``None`` (so ``default:VALUE`` applies, and otherwise the identity
    attribute is cleared). Results are JSON-friendly: datetimes become RFC 3339 text,
    binary values base64 text, tuples lists.

    Raises:
        TransformError: a value cannot be transformed; the message names the mapping.
    """
    result: dict[str, Any] = {}
    for index, mapping in enumerate(mappings):
        if mapping.identity is None or mapping.template is not None:
            continue
        if not Direction(mapping.direction).inbound:
            continue
        value = _lookup(account_attributes, mapping.account)
        try:
            result[mapping.identity] = _json_value(apply_transforms(mapping.transform, value))
        except TransformError as exc:
            raise TransformError(f"mappings[{index}] ({mapping.account}): {exc.detail}") from None
    return result


@frozen
class OutboundValue:
    """One account attribute value produced by one outbound mapping, and why."""

    attribute: str
    """The account attribute (spelt as the schema spells it when a class is given)."""
    value: Any
    mapping: int
    """The index of the mapping in the connector's ``mappings``."""
    source: str
    """``identity attribute 'email'`` or ``template '{given_name}.{family_name}'``."""
    transform: tuple[str, ...] = ()

    def explain(self) -> str:
        """A sentence for discrepancies and operations (it does not repeat the value)."""
        steps = "".join(f" | {t}" for t in self.transform)
        return f"{self.attribute} from mappings[{self.mapping}]: {self.source}{steps}"


def _shape(value: Any, attribute: Attribute, index: int) -> Any:
    if attribute.multivalued:
        if value is None:
            return []
        if isinstance(value, list | tuple):
            return [v for v in value if v is not None]
        return [value]
    if isinstance(value, list | tuple):
        present = [v for v in value if v is not None]
        if len(present) > 1:
            raise TransformError(
                f"mappings[{index}] ({attribute.name}): {attribute.name!r} is single-valued, "
                f"but the identity value has {len(present)} values; add first or join:SEP"
            )
        return present[0] if present else None
    return value


@frozen
class _OutboundRule:
    """One outbound mapping, compiled: its source, parsed transforms and schema attribute."""

    index: int
    account: str
    """The account attribute, spelt as the schema spells it when a class is given."""
    mapped: str
    """The account attribute as the mapping spells it (named in errors)."""
    template: str | None
    identity: str | None
    source: str
    transform: Any
    """The mapping's transform names (parsed again on use when they do not parse)."""
    chain: tuple[Transform, ...] | None
    attribute: Attribute | None


class OutboundPlan:
    """A connector's outbound mappings compiled once, for many identities (a run).

    ``explain`` gives exactly what ``explain_outbound`` gives; the transforms are parsed
    and the schema attributes looked up once instead of for every identity.
    """

    def __init__(
        self, mappings: Sequence[Mapping], object_class: ObjectClass | None = None
    ) -> None:
        rules: list[_OutboundRule] = []
        for index, mapping in enumerate(mappings):
            if not Direction(mapping.direction).outbound:
                continue
            if mapping.template is not None:
                source = f"template {mapping.template!r}"
            elif mapping.identity is not None:
                source = f"identity attribute {mapping.identity!r}"
            else:
                continue
            try:
                chain: tuple[Transform, ...] | None = parse_transforms(mapping.transform)
            except TransformError:
                chain = None  # raised (with the mapping named) when applied
            attribute = object_class.attribute(mapping.account) if object_class else None
            rules.append(
                _OutboundRule(
                    index=index,
                    account=attribute.name if attribute is not None else mapping.account,
                    mapped=mapping.account,
                    template=mapping.template,
                    identity=mapping.identity,
                    source=source,
                    transform=mapping.transform,
                    chain=chain,
                    attribute=attribute,
                )
            )
        self._rules = tuple(rules)
        # (account, identity attribute or None, rule): a rule taking an identity attribute
        # as it is (no template, no transform, not multivalued) is read directly when the
        # value is a scalar; anything else goes through ``_value``
        self._steps = tuple(
            (
                rule.account,
                rule.identity
                if rule.template is None
                and rule.chain == ()
                and (rule.attribute is None or not rule.attribute.multivalued)
                else None,
                rule,
            )
            for rule in rules
        )
        self.attributes: tuple[Attribute | None, ...] = tuple(r.attribute for r in rules)
        """The schema attribute of each produced value (None without a class), in order."""

    def _value(self, rule: _OutboundRule, identity_attributes: AbcMapping[str, Any]) -> Any:
        if rule.template is not None:
            value: Any = render_template(rule.template, identity_attributes)
        else:
            assert rule.identity is not None
            value = identity_attributes.get(rule.identity)
        try:
            if rule.chain is None:
                value = apply_transforms(rule.transform, value)
            else:
                for transform in rule.chain:
                    value = transform.apply(value)
        except TransformError as exc:
            raise TransformError(f"mappings[{rule.index}] ({rule.mapped}): {exc.detail}") from None
        if rule.attribute is not None:
            value = _shape(value, rule.attribute, rule.index)
        return value

    def values(self, identity_attributes: AbcMapping[str, Any]) -> dict[str, Any]:
        """The account attributes an identity yields (``outbound_attributes``)."""
        out: dict[str, Any] = {}
        get = identity_attributes.get
        for account, direct, rule in self._steps:
            if direct is not None:
                value = get(direct)
                if value.__class__ in _JSON_SCALARS:
                    out[account] = value
                    continue
            out[account] = self._value(rule, identity_attributes)
        return out

    def explain(self, identity_attributes: AbcMapping[str, Any]) -> list[OutboundValue]:
        """Each value with the mapping behind it (``explain_outbound``)."""
        return [
            OutboundValue(
                rule.account,
                self._value(rule, identity_attributes),
                rule.index,
                rule.source,
                tuple(str(t) for t in rule.chain or ()),
            )
            for rule in self._rules
        ]


def explain_outbound(
    mappings: Sequence[Mapping],
    identity_attributes: AbcMapping[str, Any],
    object_class: ObjectClass | None = None,
) -> list[OutboundValue]:
    """The account attribute values an identity yields, each with the mapping behind it.

    Outbound and ``both`` mappings contribute, in order: a template is rendered (missing
    identity attributes render empty), else the identity attribute's value is taken
    (``None`` when absent, meaning "clear"), then the transforms apply. With
    ``object_class`` the attribute takes the schema's spelling and its multiplicity: a
    multivalued one always gets a list (``None`` becomes ``[]``); a single-valued one gets
    a one-element list unwrapped and ``[]`` as ``None``.

    Whether a value is written on create, update or both (an attribute may be creatable
    but not updateable) is the caller's decision, from the schema. For many identities,
    compile the mappings once with ``OutboundPlan``.

    Raises:
        TransformError: a value cannot be transformed, or several values meet a
            single-valued attribute; the message names the mapping.
        TemplateError: a template is invalid (validation prevents this).
    """
    return OutboundPlan(mappings, object_class).explain(identity_attributes)


def outbound_attributes(
    mappings: Sequence[Mapping],
    identity_attributes: AbcMapping[str, Any],
    object_class: ObjectClass | None = None,
) -> dict[str, Any]:
    """The account attributes an identity yields (``explain_outbound`` without the why).

    Raises:
        TransformError, TemplateError: as ``explain_outbound``.
    """
    return {
        v.attribute: v.value for v in explain_outbound(mappings, identity_attributes, object_class)
    }


def correlation_key(rule: CorrelationRule, value: Any) -> tuple[str, ...]:
    """The keys one side's value offers for a correlation rule, sorted and distinct.

    The rule's transform applies first (the same on the account and the identity side);
    then each value becomes its text (booleans ``true``/``false``, binary as base64), so
    ``42`` and ``"42"`` correlate. Empty values offer no key; a multivalued value offers
    one key per element. Two sides correlate when their keys intersect.

    Raises:
        TransformError: the value cannot be transformed.
    """
    transformed = apply_transforms(rule.transform, value)
    items = transformed if isinstance(transformed, list | tuple) else [transformed]
    keys: set[str] = set()
    for item in items:
        if item is None:
            continue
        if isinstance(item, bytes | bytearray | memoryview):
            key = base64.b64encode(bytes(item)).decode("ascii")
        else:
            key = text_of(item)
        if key:
            keys.add(key)
    return tuple(sorted(keys))


def _same(left: Any, right: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return [value]


def _present(value: Any) -> bool:
    return any(v != "" for v in _values(value))


def in_scope(
    scope: Sequence[ScopeCondition] | None, identity_attributes: AbcMapping[str, Any]
) -> bool:
    """Whether an identity is in a target connector's scope (``None``: everyone).

    Conditions are AND-ed. A multivalued identity attribute meets ``eq`` when any of its
    values equals the condition's, ``in`` when any is listed; ``ne`` is ``not eq`` (so an
    absent attribute is ``ne`` anything). ``present`` means at least one value that is
    neither ``None`` nor ``""``; ``absent`` is its negation. Equality is JSON equality
    (``1 == 1.0``, but ``true`` is not ``1`` and ``"1"`` is not ``1``).
    """
    if scope is None:
        return True
    for condition in scope:
        values = _values(identity_attributes.get(condition.identity))
        op = ScopeOp(condition.op)
        if op is ScopeOp.PRESENT:
            ok = _present(values)
        elif op is ScopeOp.ABSENT:
            ok = not _present(values)
        elif op is ScopeOp.IN:
            listed = condition.value if isinstance(condition.value, list | tuple) else ()
            ok = any(_same(v, c) for v in values for c in listed)
        else:
            equal = any(_same(v, condition.value) for v in values)
            ok = equal if op is ScopeOp.EQ else not equal
        if not ok:
            return False
    return True


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def attributes_hash(attributes: AbcMapping[str, Any]) -> str:
    """A stable SHA-256 (hex) of attributes, for fast comparison of shadows.

    The attributes are serialized as canonical JSON: keys sorted at every level (so key
    order does not matter), no whitespace, datetimes as RFC 3339 UTC, binary as base64,
    tuples as lists. List order does matter.
    """
    flat = type(attributes) is dict and all(
        type(v) in _JSON_SCALARS for v in attributes.values()
    )  # the common case: nothing to convert (keys of a dict read from JSON are str)
    canonical = json.dumps(
        attributes
        if flat and all(type(k) is str for k in attributes)
        else _json_value(dict(attributes)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
