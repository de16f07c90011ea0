"""SPEC §7: a full read of 100k LDAP entries through the ``ldap`` type, ≥ 5,000 entries/s.

Seeds ``--count`` inetOrgPerson entries (8 attributes each) with ``slapadd`` into a
throwaway slapd (tests/support/slapd.py), then times, in the same run and alternately:

- the baseline: a raw ldap3 paged search (the SYNC strategy, the fast BER decoder, the
  same attributes and page size) that only counts the entries it receives;
- the connector: ``LdapType().open(...).search("inetOrgPerson", ...)``, which also types
  the values with the directory schema and builds a ``ConnectorObject`` per entry.

The connector can beat the baseline: stock ldap3 decodes every entry twice (to bytes and
to formatted text), and the connector has its sessions skip the formatted copy it never
reads (``_decode_entries_raw_only`` in types/ldap.py).

Prints entries/s of each (best of ``--repeat``) and the ratio. Run from the repository root:

    python benchmarks/ldap_read.py [--count 100000] [--page-size 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET = 5_000
"""SPEC §7: entries per second for a full read."""


def _raw_ldap3(url: str, bind_dn: str, password: str, base: str, page_size: int) -> int:
    import ldap3

    conn = ldap3.Connection(
        ldap3.Server(url, get_info=ldap3.NONE),
        bind_dn,
        password,
        auto_bind=ldap3.AUTO_BIND_NO_TLS,
        check_names=False,
        fast_decoder=True,
        return_empty_attributes=False,
    )
    count = 0
    cookie = None
    while True:
        conn.search(
            base,
            "(objectClass=inetOrgPerson)",
            ldap3.SUBTREE,
            dereference_aliases=ldap3.DEREF_NEVER,
            attributes=["*", "entryUUID"],
            paged_size=page_size,
            paged_cookie=cookie,
        )
        count += sum(1 for e in conn.response if e["type"] == "searchResEntry")
        controls = conn.result.get("controls") or {}
        cookie = controls["1.2.840.113556.1.4.319"]["value"]["cookie"]
        if not cookie:
            break
    conn.unbind()
    return count


def _connector(url: str, bind_dn: str, password: str, base: str, page_size: int) -> int:
    from xavyo_connectors_core.spi import OpenContext
    from xavyo_connectors_core.types.ldap import TYPE

    config = {"url": url, "bind_dn": bind_dn, "base_dn": base, "page_size": page_size}
    count = 0
    with TYPE.open(config, {"password": password}, OpenContext(Path("."))) as conn:
        for obj in conn.search("inetOrgPerson", page_size):
            count += 1
            assert obj.uid
    return count


def _best(run: Callable[[], int], repeat: int, expected: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        elapsed = time.perf_counter() - started
        if count != expected:
            raise SystemExit(f"read {count} entries, expected {expected}")
        best = min(best, elapsed)
    return best


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.slapd import find_slapd, seed_ldif, throwaway_slapd

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if find_slapd() is None:
        raise SystemExit("slapd is not installed (apt-get install slapd ldap-utils)")

    with tempfile.TemporaryDirectory(prefix="xavyo-ldap-bench-") as tmp:
        started = time.perf_counter()
        seed = seed_ldif(Path(tmp) / "seed.ldif", args.count)
        with throwaway_slapd(seed=seed) as server:
            seeded = time.perf_counter() - started
            print(f"seeded {args.count} entries with slapadd in {seeded:.1f} s")
            base = f"ou=people,{server.base_dn}"
            login = (server.url, server.root_dn, server.root_password, base, args.page_size)
            # warm slapd's caches once, then alternate the two readers
            _raw_ldap3(*login)
            raw = connector = float("inf")
            for _ in range(args.repeat):
                raw = min(raw, _best(lambda: _raw_ldap3(*login), 1, args.count))
                connector = min(connector, _best(lambda: _connector(*login), 1, args.count))

    raw_rate, rate = args.count / raw, args.count / connector
    print(f"page size {args.page_size}, best of {args.repeat}")
    print(f"raw ldap3 paged search : {raw:6.2f} s  {raw_rate:8.0f} entries/s")
    print(f"ldap connector search  : {connector:6.2f} s  {rate:8.0f} entries/s")
    print(f"connector / raw ldap3  : {rate / raw_rate:.2f}")
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(f"target {TARGET} entries/s: {verdict}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
