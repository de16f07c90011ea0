"""xavyo-connectors core: connectors, schema discovery, sync, reconciliation, provisioning.

The public API is curated here; everything else is private or namespaced.
"""

from __future__ import annotations

__version__ = "0.1.0"
