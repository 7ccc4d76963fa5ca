"""The names the web server answers to (the Host header), against DNS rebinding.

A page on another site can point its own name at 127.0.0.1 and then talk to a tracker on the
lab team's computer as if it were that site: the browser sends that site's name in the Host
header. The server answers only to loopback names, to the address it listens on, and to the
names in TRACKER_ALLOWED_HOSTS (comma-separated; a deployment sets its public name there, as
deploy/compose*.yaml do; `*` answers to any name). Nothing here imports Streamlit.
"""

from __future__ import annotations

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ANY = "*"


def _name(host: str) -> str:
    """A Host header's name without its port: "example.org:8501" -> "example.org",
    "[::1]:8501" -> "::1"."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_hosts(setting: str | None, listen_address: str | None) -> frozenset[str]:
    names = set(LOOPBACK_HOSTS)
    names.update(_name(n) for n in (setting or "").split(",") if n.strip())
    address = _name(listen_address or "")
    if address and address not in ("0.0.0.0", "::"):
        names.add(address)
    return frozenset(names)


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    if ANY in allowed:
        return True
    return bool(host) and _name(host) in allowed
