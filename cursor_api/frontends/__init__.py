"""One module per client API; each only translates its wire format (see core.frontend)."""
