"""Schema drift (SPEC §3.10): what changed in an object class between two discoveries.

Pure. Attributes are matched by name case-insensitively (as mappings match them); an
attribute whose type, any flag, or the spelling of its name changed is ``changed``.
Names are sorted case-insensitively.
"""

from __future__ import annotations

from xavyo_connectors_core.model import Attribute, AttributeDiff, ObjectClass, SchemaDiff

__all__ = ["diff_schemas"]


def _by_name(object_class: ObjectClass | None) -> dict[str, Attribute]:
    if object_class is None:
        return {}
    return {a.name.casefold(): a for a in object_class.attributes}


def _order(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def diff_schemas(before: ObjectClass | None, after: ObjectClass) -> SchemaDiff:
    """The attributes added, removed and changed from ``before`` to ``after``.

    Args:
        before: the object class of the previous discovery, or None for the first one
            (then every attribute is ``added``).
        after: the object class just discovered.

    Returns:
        A ``SchemaDiff`` whose ``added`` and ``removed`` hold attribute names (as spelt
        in ``after`` and ``before`` respectively) and whose ``changed`` holds both
        versions of each attribute that differs in type or any flag; all sorted by name.
    """
    old = _by_name(before)
    new = _by_name(after)
    added = sorted((new[k].name for k in new.keys() - old.keys()), key=_order)
    removed = sorted((old[k].name for k in old.keys() - new.keys()), key=_order)
    changed = sorted(
        (
            AttributeDiff(new[k].name, old[k], new[k])
            for k in new.keys() & old.keys()
            if old[k] != new[k]
        ),
        key=lambda d: _order(d.attribute),
    )
    return SchemaDiff(added=tuple(added), removed=tuple(removed), changed=tuple(changed))
