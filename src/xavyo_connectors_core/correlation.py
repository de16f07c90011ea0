"""Correlation: find the identities an unlinked account belongs to, in batches.

Rules are tried in order; the first rule that finds at least one identity decides. The
transform of a rule applies to both sides before comparing. The identity store is asked
once per rule per batch (``find_by_values``), so a host's own store works too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from attrs import frozen

from xavyo_connectors_core.mappings import correlation_key
from xavyo_connectors_core.model import CorrelationRule, Identity, Situation
from xavyo_connectors_core.ports import IdentityStore


@frozen
class Correlation:
    """The identities one account correlates to, and why."""

    candidates: tuple[UUID, ...] = ()
    rule_index: int | None = None
    explanation: str = "no correlation rule matched an identity"


def account_value(attributes: Mapping[str, Any], name: str) -> Any:
    """An account attribute by name (exact first, then case-insensitive: LDAP, SCIM)."""
    if name in attributes:
        return attributes[name]
    folded = name.casefold()
    for key, value in attributes.items():
        if key.casefold() == folded:
            return value
    return None


def _keys(rule: CorrelationRule, value: Any) -> set[str]:
    """The comparable keys of one side's value under the rule's transform."""
    if value is None:
        return set()
    try:
        return set(correlation_key(rule, value))
    except (ValueError, TypeError):
        return set()


def classify(linked_identity: UUID | None, correlation: Correlation | None) -> Situation:
    """The situation of an account: linked, unlinked, unmatched or disputed (SPEC §3.5)."""
    if linked_identity is not None:
        return Situation.LINKED
    if correlation is None or not correlation.candidates:
        return Situation.UNMATCHED
    if len(correlation.candidates) == 1:
        return Situation.UNLINKED
    return Situation.DISPUTED


def correlate_batch(
    identities: IdentityStore,
    tenant_id: UUID,
    rules: Sequence[CorrelationRule],
    accounts: Iterable[tuple[str, Mapping[str, Any]]],
) -> dict[str, Correlation]:
    """Correlate ``(uid, attributes)`` pairs; every uid gets a ``Correlation``."""
    pending = dict(accounts)
    result: dict[str, Correlation] = {}
    for index, rule in enumerate(rules):
        if not pending:
            break
        wanted: dict[str, set[Any]] = {
            uid: _keys(rule, account_value(attrs, rule.account)) for uid, attrs in pending.items()
        }
        query: set[Any] = set()
        for keys in wanted.values():
            query.update(keys)
        # also ask for the raw values: the store matches stored values, we compare keys
        for attrs in pending.values():
            raw = account_value(attrs, rule.account)
            if isinstance(raw, list | tuple):
                query.update(v for v in raw if isinstance(v, str | int | float | bool))
            elif isinstance(raw, str | int | float | bool):
                query.add(raw)
        if not query:
            continue
        found = identities.find_by_values(tenant_id, rule.identity, sorted(query, key=repr))
        by_key: dict[Any, dict[UUID, Identity]] = {}
        for matches in found.values():
            for identity in matches:
                for key in _keys(rule, identity.attributes.get(rule.identity)):
                    by_key.setdefault(key, {})[identity.id] = identity
        for uid, keys in wanted.items():
            hits: dict[UUID, Identity] = {}
            for key in keys:
                hits.update(by_key.get(key, {}))
            if hits:
                ids = tuple(sorted(hits, key=str))
                result[uid] = Correlation(
                    candidates=ids,
                    rule_index=index,
                    explanation=(
                        f"correlation rule {index} (identity.{rule.identity} = "
                        f"account.{rule.account}"
                        + (f", transform {'/'.join(rule.transform)}" if rule.transform else "")
                        + f") matched {len(ids)} identit{'y' if len(ids) == 1 else 'ies'}: "
                        + ", ".join(str(i) for i in ids[:10])
                        + (" …" if len(ids) > 10 else "")
                    ),
                )
                pending.pop(uid)
    for uid in pending:
        result[uid] = Correlation()
    return result
