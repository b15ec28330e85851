"""ISO 15143-3 (AEMP 2.0): pure mapping from rows to documents (documents, render) and the SQL
that reads the rows (queries). The router is api/routers/iso15143.py."""
