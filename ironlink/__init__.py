"""IronLink shared core: settings, database pool, migrations, logging and the CLI."""
