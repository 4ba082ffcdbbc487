"""The bundled binding core: the business-side XB/AXB binding service the harness tests (issue 3)."""
