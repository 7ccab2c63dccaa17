"""How the hub finds what plugs into it: the Flow contract and the flow registry (entry points)."""
